//! `calls.*`: arguments, call state, users, and Slack's answer shapes.

use serde_json::{json, Value};
use slack_standin::SlackStandin;

use crate::support::*;

#[tokio::test]
async fn calls_add_checks_its_arguments() {
    let slack = SlackStandin::start().await;
    let good = json!({"external_unique_id": "e1", "join_url": "https://meet.example/e1", "created_by": "U0ALICE"});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases = [
        (without("external_unique_id"), "invalid_arguments"),
        (without("join_url"), "invalid_arguments"),
        (with("join_url", json!("not a url")), "invalid_arguments"),
        // Required with a bot token.
        (without("created_by"), "invalid_arguments"),
        (with("created_by", json!("alice")), "invalid_created_by"),
        (with("title", json!(42)), "invalid_arguments"),
        (with("date_start", json!("soon")), "invalid_start_time"),
        (with("date_start", json!(-5)), "invalid_start_time"),
        (
            with("users", json!({"slack_id": "U1"})),
            "invalid_arguments",
        ),
        (
            with("users", json!([{"external_id": "x1"}])),
            "invalid_arguments",
        ),
        (
            with("users", json!([{"display_name": "Ann"}])),
            "invalid_arguments",
        ),
        (
            with("users", json!([{"slack_id": "not-a-user"}])),
            "user_not_found",
        ),
        (
            with(
                "users",
                json!([{"slack_id": "U0ALICE"}, {"slack_id": "U0ALICE"}]),
            ),
            "bad_users",
        ),
    ];
    for (body, expected) in cases {
        let answer = bot(&slack, "calls.add", body.clone()).await;
        assert_eq!(answer.error(), Some(expected), "{body}");
    }
    assert!(slack.calls().is_empty(), "nothing refused was registered");

    // With a user token created_by may be left out.
    slack.add_token("xoxp-user", "T0STANDIN");
    let answer = call(
        &slack,
        "calls.add",
        Some("xoxp-user"),
        without("created_by"),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let answer = bot(
        &slack,
        "calls.add",
        with("users", json!([{"slack_id": "U0ALICE"}, {"external_id": "x1", "display_name": "Ext", "avatar_url": "https://a.example/x.png"}])),
    )
    .await;
    assert!(answer.ok());
    let id = answer.body["call"]["id"].as_str().expect("id");
    assert!(id.starts_with('R'));
    assert_eq!(
        slack.call(id).expect("recorded").participant_ids(),
        ["U0ALICE", "x1"]
    );
}

#[tokio::test]
async fn participants_must_change_state() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "p1").await;
    let alice = json!([{"slack_id": "U0ALICE"}]);
    let ext = json!([{"external_id": "ext-9", "display_name": "Guest"}]);

    assert!(bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": alice})
    )
    .await
    .ok());
    let again = bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": alice}),
    )
    .await;
    assert_eq!(again.error(), Some("bad_users"), "double add");
    // All or nothing: a new user alongside a present one changes nothing.
    let mixed = json!([{"external_id": "ext-9", "display_name": "Guest"}, {"slack_id": "U0ALICE"}]);
    assert_eq!(
        bot(
            &slack,
            "calls.participants.add",
            json!({"id": id, "users": mixed})
        )
        .await
        .error(),
        Some("bad_users")
    );
    assert_eq!(
        slack.call(&id).expect("call").participant_ids(),
        ["U0ALICE"]
    );

    assert_eq!(
        bot(
            &slack,
            "calls.participants.remove",
            json!({"id": id, "users": ext})
        )
        .await
        .error(),
        Some("bad_users"),
        "removing someone not in the call"
    );
    for (body, expected) in [
        (json!({"id": id}), "missing_argument"),
        (json!({"id": id, "users": []}), "invalid_arguments"),
        (json!({"users": alice}), "missing_argument"),
        (
            json!({"id": "R999999999", "users": alice}),
            "invalid_call_id",
        ),
        (json!({"id": "C123", "users": alice}), "invalid_call_id"),
    ] {
        assert_eq!(
            bot(&slack, "calls.participants.remove", body.clone())
                .await
                .error(),
            Some(expected),
            "{body}"
        );
    }
    assert!(bot(
        &slack,
        "calls.participants.remove",
        json!({"id": id, "users": alice})
    )
    .await
    .ok());
    assert!(slack.call(&id).expect("call").participants.is_empty());
}

#[tokio::test]
async fn ended_calls_stay_ended() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "end-1").await;
    assert_eq!(
        bot(&slack, "calls.end", json!({"id": id, "duration": "long"}))
            .await
            .error(),
        Some("invalid_arguments")
    );
    assert!(bot(&slack, "calls.end", json!({"id": id, "duration": 65}))
        .await
        .ok());
    let twice = bot(&slack, "calls.end", json!({"id": id})).await;
    assert_eq!(twice.error(), Some("inactive_call"));
    assert_eq!(
        bot(
            &slack,
            "calls.participants.add",
            json!({"id": id, "users": [{"slack_id": "U0BOB"}]})
        )
        .await
        .error(),
        Some("inactive_call")
    );
    let call = slack.call(&id).expect("call");
    assert!(call.ended());
    assert_eq!(call.duration, Some(65));
    let info = bot(&slack, "calls.info", json!({"id": id})).await;
    assert!(info.body["call"]["date_end"].is_i64());
}

#[tokio::test]
async fn calls_belong_to_their_team() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "team-1").await;
    slack.add_token("xoxb-other-team", "T0OTHER");
    let answer = call(
        &slack,
        "calls.info",
        Some("xoxb-other-team"),
        json!({"id": id}),
    )
    .await;
    assert_eq!(answer.error(), Some("invalid_call_id"));
    let update = bot(
        &slack,
        "calls.update",
        json!({"id": id, "title": "Renamed", "join_url": "https://meet.example/2"}),
    )
    .await;
    assert!(update.ok());
    assert_eq!(update.body["call"]["title"], json!("Renamed"));
    assert_eq!(
        slack.call(&id).expect("call").join_url,
        "https://meet.example/2"
    );
}

#[tokio::test]
async fn call_answers_have_slacks_shape() {
    let slack = SlackStandin::start().await;
    let added = bot(
        &slack,
        "calls.add",
        json!({
            "external_unique_id": "shape-1", "join_url": "https://meet.example/s1",
            "created_by": "U0ALICE", "date_start": 1_700_000_000, "title": "Standup",
            "users": [{"slack_id": "U0ALICE"}, {"external_id": "g1", "display_name": "Guest"}],
        }),
    )
    .await;
    assert!(added.ok(), "{:?}", added.body);
    let id = added.body["call"]["id"].as_str().expect("id").to_owned();
    // calls.add (docs.slack.dev/reference/methods/calls.add): not shown anywhere yet,
    // so no `channels`; not ended, so no `date_end`; users echoed as given.
    assert_eq!(
        added.body["call"],
        json!({
            "id": id, "date_start": 1_700_000_000, "external_unique_id": "shape-1",
            "join_url": "https://meet.example/s1", "title": "Standup",
            "users": [{"slack_id": "U0ALICE"}, {"external_id": "g1", "display_name": "Guest"}],
        })
    );

    // Once a call block is posted, the call lists the channel (Java SDK `Call.channels`).
    let posted = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "call", "blocks": [{"type": "call", "call_id": id}]}),
    )
    .await;
    assert!(posted.ok(), "{:?}", posted.body);
    let info = bot(&slack, "calls.info", json!({"id": id})).await;
    assert_eq!(info.body["call"]["channels"], json!(["C0GENERAL"]));
    assert!(info.body["call"].get("date_end").is_none());

    // Participant changes and the end answer with the call too (SDK response types).
    let joined = bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": [{"slack_id": "U0BOB"}]}),
    )
    .await;
    assert!(joined.ok());
    assert_eq!(
        joined.body["call"]["users"].as_array().map(Vec::len),
        Some(3)
    );
    let left = bot(
        &slack,
        "calls.participants.remove",
        json!({"id": id, "users": [{"external_id": "g1", "display_name": "Guest"}]}),
    )
    .await;
    assert_eq!(
        left.body["call"]["users"],
        json!([{"slack_id": "U0ALICE"}, {"slack_id": "U0BOB"}])
    );
    let ended = bot(&slack, "calls.end", json!({"id": id})).await;
    assert!(ended.ok());
    assert!(ended.body["call"]["date_end"].is_i64());
    assert_eq!(ended.body["call"]["channels"], json!(["C0GENERAL"]));
    let call = slack.call(&id).expect("recorded");
    assert_eq!(call.channels, ["C0GENERAL"]);
    assert_eq!(
        call.all_participants
            .iter()
            .map(|u| u.identity())
            .collect::<Vec<_>>(),
        ["U0ALICE", "g1", "U0BOB"]
    );
}

#[tokio::test]
async fn a_second_end_is_ok_true_with_inactive_call() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "end-twice").await;
    assert!(bot(&slack, "calls.end", json!({"id": id})).await.ok());
    let ended_at = slack.call(&id).and_then(|call| call.date_end);
    // docs.slack.dev/reference/methods/calls.end: "Typical error response, when the
    // call is already been terminated": {"ok": true, "error": "inactive_call"}.
    let twice = bot(&slack, "calls.end", json!({"id": id, "duration": 9})).await;
    assert_eq!(
        (twice.status, twice.body.clone()),
        (200, json!({"ok": true, "error": "inactive_call"}))
    );
    assert_eq!(slack.call(&id).and_then(|call| call.date_end), ended_at);
    let recorded = slack.requests_for("calls.end");
    assert_eq!(recorded[1].error.as_deref(), Some("inactive_call"));
}

#[tokio::test]
async fn bad_users_is_ok_true_and_changes_nothing() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "bad-users").await;
    let alice = json!({"slack_id": "U0ALICE"});
    assert!(bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": [alice]})
    )
    .await
    .ok());
    // docs.slack.dev/reference/methods/calls.participants.add: "Typical error response
    // when a specified user is already part of the Call": {"ok": true, "error": "bad_users"}.
    let again = bot(
        &slack,
        "calls.participants.add",
        json!({"id": id, "users": [{"slack_id": "U0BOB"}, alice]}),
    )
    .await;
    assert_eq!(again.body, json!({"ok": true, "error": "bad_users"}));
    assert_eq!(
        slack.call(&id).expect("call").participant_ids(),
        ["U0ALICE"]
    );
    let absent = bot(
        &slack,
        "calls.participants.remove",
        json!({"id": id, "users": [alice, {"slack_id": "U0BOB"}]}),
    )
    .await;
    assert_eq!(absent.body, json!({"ok": true, "error": "bad_users"}));
    assert_eq!(
        slack.call(&id).expect("call").participant_ids(),
        ["U0ALICE"]
    );
    assert_eq!(
        slack.requests_for("calls.participants.remove")[0]
            .error
            .as_deref(),
        Some("bad_users")
    );
}

#[tokio::test]
async fn users_the_workspace_does_not_know_are_refused() {
    let slack = SlackStandin::start().await;
    slack.forget_user("U0GONE");
    let id = add_call(&slack, "unknown-users").await;
    let gone = json!([{"slack_id": "U0GONE"}]);
    for method in ["calls.participants.add", "calls.participants.remove"] {
        let answer = bot(&slack, method, json!({"id": id, "users": gone})).await;
        assert_eq!(
            (answer.body["ok"].clone(), answer.error()),
            (json!(false), Some("user_not_found")),
            "{method}"
        );
    }
    let add = |field: &str, value: Value| {
        let mut body = json!({"external_unique_id": "u2", "join_url": "https://meet.example/u2", "created_by": "U0ALICE"});
        body[field] = value;
        body
    };
    assert_eq!(
        bot(&slack, "calls.add", add("users", gone.clone()))
            .await
            .error(),
        Some("user_not_found")
    );
    assert_eq!(
        bot(&slack, "calls.add", add("created_by", json!("U0GONE")))
            .await
            .error(),
        Some("invalid_created_by")
    );
    assert_eq!(
        bot(
            &slack,
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "user": "U0GONE", "text": "hi"})
        )
        .await
        .error(),
        Some("user_not_in_channel")
    );
    assert!(slack.call(&id).expect("call").participants.is_empty());
}

#[tokio::test]
async fn an_update_must_change_something() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "update-nothing").await;
    // The Java SDK's live test (`calls_Test.errors`) expects an error here.
    let answer = bot(&slack, "calls.update", json!({"id": id})).await;
    assert_eq!(answer.error(), Some("invalid_arguments"));
    let answer = bot(&slack, "calls.update", json!({"id": id, "title": ["a"]})).await;
    assert_eq!(answer.error(), Some("invalid_array_arg"));
}
