//! `chat.unfurl` in both forms, `chat.postMessage`, `chat.postEphemeral`.

use serde_json::json;
use slack_standin::{ChannelAccess, SlackStandin};

use crate::support::*;

#[tokio::test]
async fn unfurls_need_a_known_message_and_a_known_call() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "unfurl-1").await;
    let unfurls = json!({"https://meet.example/r1": {"blocks": [{"type": "call", "call_id": id}]}});
    let unknown = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": unfurls}),
    )
    .await;
    assert_eq!(unknown.error(), Some("cannot_find_message"));

    slack.add_message("C0GENERAL", "1700000000.000100");
    for (body, expected) in [
        (
            json!({"ts": "1700000000.000100", "unfurls": unfurls}),
            "missing_channel",
        ),
        (
            json!({"channel": "C0GENERAL", "unfurls": unfurls}),
            "missing_ts",
        ),
        (
            json!({"channel": "C0GENERAL", "ts": "1700000000.000100"}),
            "missing_unfurls",
        ),
        (
            json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": "[1]"}),
            "invalid_unfurls_format",
        ),
        (
            json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": {"https://x.example/": {"blocks": [{"type": "call", "call_id": "R424242"}]}}}),
            "cannot_parse_attachment",
        ),
    ] {
        assert_eq!(
            bot(&slack, "chat.unfurl", body.clone()).await.error(),
            Some(expected),
            "{body}"
        );
    }
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": "1700000000.000100", "unfurls": unfurls}),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let message = &slack.messages()[0];
    assert!(message.unfurls.contains_key("https://meet.example/r1"));

    // A posted message can be unfurled by its ts too.
    let posted = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0RANDOM", "text": "join https://meet.example/r1"}),
    )
    .await;
    let ts = posted.body["ts"].as_str().expect("ts").to_owned();
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0RANDOM", "ts": ts, "unfurls": unfurls}),
    )
    .await;
    assert!(answer.ok());
    // …but not in another channel.
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": ts, "unfurls": unfurls}),
    )
    .await;
    assert_eq!(answer.error(), Some("cannot_find_message"));
}

#[tokio::test]
async fn messages_need_a_channel_and_content() {
    let slack = SlackStandin::start().await;
    for (method, body, expected) in [
        (
            "chat.postMessage",
            json!({"text": "hi"}),
            "channel_not_found",
        ),
        (
            "chat.postMessage",
            json!({"channel": "general", "text": "hi"}),
            "channel_not_found",
        ),
        (
            "chat.postMessage",
            json!({"channel": "C0GENERAL"}),
            "no_text",
        ),
        (
            "chat.postMessage",
            json!({"channel": "C0GENERAL", "blocks": "{"}),
            "invalid_blocks_format",
        ),
        (
            "chat.postMessage",
            json!({"channel": "C0GENERAL", "blocks": [{"type": "call", "call_id": "R1"}]}),
            "invalid_blocks",
        ),
        (
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "text": "hi"}),
            "invalid_arguments",
        ),
        (
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "user": "bob", "text": "hi"}),
            "user_not_in_channel",
        ),
        (
            "chat.postEphemeral",
            json!({"channel": "C0GENERAL", "user": "U0BOB"}),
            "no_text",
        ),
        ("chat.nonsense", json!({}), "unknown_method"),
    ] {
        assert_eq!(
            bot(&slack, method, body.clone()).await.error(),
            Some(expected),
            "{method} {body}"
        );
    }
    let answer = bot(
        &slack,
        "chat.postEphemeral",
        json!({"channel": "D0DM", "user": "U0BOB", "text": "Please log in"}),
    )
    .await;
    assert!(answer.ok());
    assert!(answer.body["message_ts"].is_string());
    let answer = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "hello"}),
    )
    .await;
    assert_eq!(answer.body["channel"], json!("C0GENERAL"));
    assert_eq!(slack.requests_for("chat.postMessage").len(), 6);
}

#[tokio::test]
async fn unfurls_by_unfurl_id_and_source() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "unfurl-id").await;
    let link = "https://meet.example/r1";
    let unfurls = json!({ link: {"blocks": [{"type": "call", "call_id": id}]} });

    // conversations_history: a posted message, named by its unfurl id.
    let posted = slack.link_shared("C0GENERAL", "1700000000.000200", &[link]);
    assert_eq!(posted.source, "conversations_history");
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"unfurl_id": posted.unfurl_id, "source": "conversations_history", "unfurls": unfurls}),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let message = slack
        .messages()
        .into_iter()
        .find(|m| m.ts == "1700000000.000200")
        .expect("message");
    assert!(message.unfurls.contains_key(link));
    assert_eq!(slack.call(&id).expect("call").channels, ["C0GENERAL"]);

    // composer: a link not posted yet; the event says `channel: "COMPOSER"`.
    let draft = slack.new_composer_unfurl("C0RANDOM", "U0ALICE");
    assert_eq!(
        (draft.channel.as_str(), draft.source.as_str()),
        ("COMPOSER", "composer")
    );
    assert!(draft.message_ts.starts_with("U0ALICE-"));
    let by_channel = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": draft.channel, "ts": draft.message_ts, "unfurls": unfurls}),
    )
    .await;
    assert_eq!(by_channel.error(), Some("cannot_find_channel"));
    let answer = bot(
        &slack,
        "chat.unfurl",
        json!({"unfurl_id": draft.unfurl_id, "source": "composer", "unfurls": unfurls}),
    )
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    let drafts = slack.composer_unfurls();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].channel, "C0RANDOM");
    assert!(drafts[0].unfurls.contains_key(link));
    // A preview in the composer shows the call in no channel yet.
    assert_eq!(slack.call(&id).expect("call").channels, ["C0GENERAL"]);

    for (body, expected) in [
        (
            json!({"unfurl_id": draft.unfurl_id, "unfurls": unfurls}),
            "missing_source",
        ),
        (
            json!({"source": "composer", "unfurls": unfurls}),
            "missing_unfurl_id",
        ),
        (
            json!({"unfurl_id": draft.unfurl_id, "source": "draft", "unfurls": unfurls}),
            "invalid_source",
        ),
        (
            json!({"unfurl_id": "U0ALICE-nope", "source": "composer", "unfurls": unfurls}),
            "invalid_unfurl_id",
        ),
        (
            json!({"unfurl_id": draft.unfurl_id, "source": "conversations_history", "unfurls": unfurls}),
            "invalid_unfurl_id",
        ),
        (
            json!({"unfurl_id": posted.unfurl_id, "source": "conversations_history"}),
            "missing_unfurls",
        ),
    ] {
        assert_eq!(
            bot(&slack, "chat.unfurl", body.clone()).await.error(),
            Some(expected),
            "{body}"
        );
    }
}

#[tokio::test]
async fn only_links_in_the_message_can_be_unfurled() {
    let slack = SlackStandin::start().await;
    let id = add_call(&slack, "links").await;
    let block = json!({"blocks": [{"type": "call", "call_id": id}]});
    slack.link_shared(
        "C0GENERAL",
        "1700000000.000300",
        &["https://meet.example/a"],
    );
    let other = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": "1700000000.000300", "unfurls": {"https://meet.example/b": block}}),
    )
    .await;
    assert_eq!(other.error(), Some("cannot_unfurl_message"));
    let own = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "C0GENERAL", "ts": "1700000000.000300", "unfurls": {"https://meet.example/a": block}}),
    )
    .await;
    assert!(own.ok(), "{:?}", own.body);
    // A conversation the bot cannot see has no messages it could unfurl.
    slack.set_channel_access("D0THEIRS", ChannelAccess::Invisible);
    slack.add_message("D0THEIRS", "1700000000.000400");
    let hidden = bot(
        &slack,
        "chat.unfurl",
        json!({"channel": "D0THEIRS", "ts": "1700000000.000400", "unfurls": {"https://meet.example/a": block}}),
    )
    .await;
    assert_eq!(hidden.error(), Some("cannot_find_channel"));
}

#[tokio::test]
async fn link_shared_events_have_the_documented_shape() {
    let slack = SlackStandin::start().await;
    let shared = slack.link_shared(
        "C0GENERAL",
        "1700000000.000500",
        &["https://meet.example/x"],
    );
    let event = shared.event("U0ALICE", &["https://meet.example/x"]);
    assert_eq!(event["type"], json!("link_shared"));
    assert_eq!(event["channel"], json!("C0GENERAL"));
    assert_eq!(event["message_ts"], json!("1700000000.000500"));
    assert_eq!(event["unfurl_id"], json!(shared.unfurl_id));
    assert_eq!(event["source"], json!("conversations_history"));
    assert_eq!(
        event["links"],
        json!([{"domain": "meet.example", "url": "https://meet.example/x"}])
    );
    assert!(shared.unfurl_id.starts_with("C0GENERAL.1700000000000500."));
    let draft = slack.new_composer_unfurl("C0GENERAL", "U0BOB");
    assert_eq!(draft.event("U0BOB", &[])["channel"], json!("COMPOSER"));
}

#[tokio::test]
async fn posting_needs_a_channel_the_bot_may_post_in() {
    let slack = SlackStandin::start().await;
    slack.set_channel_access("C0OUTSIDE", ChannelAccess::NotMember);
    slack.set_channel_access("C0OLD", ChannelAccess::Archived);
    slack.set_channel_access("D0THEIRS", ChannelAccess::Invisible);
    for (channel, expected) in [
        ("C0OUTSIDE", "not_in_channel"),
        ("C0OLD", "is_archived"),
        ("D0THEIRS", "channel_not_found"),
    ] {
        for method in ["chat.postMessage", "chat.postEphemeral"] {
            let answer = bot(
                &slack,
                method,
                json!({"channel": channel, "user": "U0BOB", "text": "hi"}),
            )
            .await;
            assert_eq!(answer.error(), Some(expected), "{method} in {channel}");
        }
    }
    assert!(slack.messages().is_empty());
    // A response URL reaches the DM the bot cannot post in (the draft spec's reason
    // for posting call blocks that way).
    let id = add_call(&slack, "dm").await;
    let url = slack.new_response_url("D0THEIRS");
    let answer = send(reqwest::Client::new().post(&url).json(
        &json!({"response_type": "in_channel", "text": "call", "blocks": [{"type": "call", "call_id": id}]}),
    ))
    .await;
    assert!(answer.ok(), "{:?}", answer.body);
    assert_eq!(slack.call(&id).expect("call").channels, ["D0THEIRS"]);
    // Access can be given back.
    slack.set_channel_access("C0OUTSIDE", ChannelAccess::Member);
    assert!(bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0OUTSIDE", "text": "hi"})
    )
    .await
    .ok());
}

#[tokio::test]
async fn posted_call_blocks_come_back_rendered() {
    let slack = SlackStandin::start().await;
    let added = bot(
        &slack,
        "calls.add",
        json!({"external_unique_id": "render", "join_url": "https://meet.example/r", "created_by": "U0ALICE",
               "title": "Standup", "external_display_id": "705-292-868",
               "users": [{"slack_id": "U0ALICE"}]}),
    )
    .await;
    let id = added.body["call"]["id"].as_str().expect("id").to_owned();
    let posted = bot(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0GENERAL", "text": "call", "blocks": [{"type": "call", "call_id": id}]}),
    )
    .await;
    assert!(posted.ok(), "{:?}", posted.body);
    let message = &posted.body["message"];
    assert_eq!(message["bot_id"], json!("B0STANDIN"));
    assert_eq!(message["app_id"], json!("A0STANDIN"));
    assert_eq!(message["team"], json!("T0STANDIN"));
    let block = &message["blocks"][0];
    assert_eq!(block["call_id"], json!(id));
    assert_eq!(block["api_decoration_available"], json!(false));
    assert_eq!(block["call"]["media_backend_type"], json!("platform_call"));
    let v1 = &block["call"]["v1"];
    assert_eq!(v1["id"], json!(id));
    assert_eq!(v1["app_id"], json!("A0STANDIN"));
    assert!(v1["app_icon_urls"]["image_32"].is_string());
    assert!(v1["app_icon_urls"]["image_original"].is_string());
    assert_eq!(v1["name"], json!("Standup"));
    assert_eq!(v1["display_id"], json!("705-292-868"));
    assert_eq!(v1["created_by"], json!("U0ALICE"));
    assert_eq!(v1["active_participants"], json!([{"slack_id": "U0ALICE"}]));
    assert_eq!(v1["all_participants"], json!([{"slack_id": "U0ALICE"}]));
    assert_eq!(v1["channels"], json!(["C0GENERAL"]));
    assert_eq!(v1["date_end"], json!(0));
    for flag in [
        "is_dm_call",
        "was_rejected",
        "was_missed",
        "was_accepted",
        "has_ended",
    ] {
        assert_eq!(v1[flag], json!(false), "{flag}");
    }
    // What was stored is what was sent; the rendering is only in the answer.
    assert_eq!(
        slack.messages()[0].blocks,
        Some(json!([{"type": "call", "call_id": id}]))
    );
}
