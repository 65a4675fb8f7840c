//! Calls, jobs and installations for the store tests, with every field set where it
//! matters (so a field the adapters drop or mangle fails a round trip).

#![allow(dead_code)] // Each test crate uses its own subset.

use slack_calls::domain::installation::{Sealed, SealedCredentials};
use slack_calls::domain::InstallationKey;
use slack_calls::domain::{
    Call, CallKind, CallState, CallUser, EndReason, IdError, Installation, Job, JobKind, JobStatus,
    NewCall, Participant, ProviderNotice, Rejection, UnfurlSource, Workspace,
};

pub const NOW: i64 = 1_700_000_000;

/// `value` as the id type wanted; panics if it is not one.
pub fn id<T: std::str::FromStr<Err = IdError>>(value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|error| panic!("test id {value:?}: {error}"))
}

/// A fresh call (`Registering`, version 0) with a unique id and join URL.
pub fn new_call(created_at: i64) -> Call {
    let external_id = slack_calls::domain::ids::new_id();
    Call::new(
        NewCall {
            external_unique_id: id(&external_id),
            workspace: slack_calls::domain::Workspace::team(id("T0001")),
            channel_id: Some(id("C0001")),
            created_by: id("U0001"),
            kind: CallKind::Video,
            title: Some("Standup".into()),
            join_url: format!("https://meet.example/{external_id}"),
            desktop_join_url: None,
            external_display_id: None,
            response_url: Some("https://hooks.slack.com/commands/T0001/1/abc".into()),
        },
        created_at,
    )
}

/// A call with every optional field set and every list non-empty.
pub fn full_call() -> Call {
    let mut call = new_call(NOW);
    // Unique like the call: Slack's ids are uppercase.
    let slack_call_id = format!("R{}", &call.external_unique_id.as_str()[..10]).to_uppercase();
    call.slack_call_id = Some(id(&slack_call_id));
    call.kind = CallKind::Audio;
    call.desktop_join_url = Some(format!("meet://join/{}", call.external_unique_id));
    call.external_display_id = Some("123-456-789".into());
    call.state = CallState::Active;
    call.date_start = NOW - 5;
    call.last_activity_at = NOW + 60;
    call.ended_at = Some(NOW + 3_600);
    call.end_reason = Some(EndReason::Abandoned);
    call.reported_duration = Some(3_595);
    call.failure = Some("calls.add said: not_in_channel".into());
    call.participant_count = 3;
    call.present_count = 2;
    call.anyone_joined = true;
    call.rejections = vec![Rejection {
        user_id: id("U0003"),
        channel_id: id("D0003"),
        at: NOW + 10,
    }];
    call.details_updated_at = Some(NOW + 20);
    call.block_posted = true;
    call.slack_title = Some("Old standup".into());
    call.slack_join_url = Some("https://meet.example/old".into());
    call.slack_desktop_join_url = Some("meet://join/old".into());
    call.slack_ended = true;
    call.reconciliation = slack_calls::domain::Reconciliation {
        rounds: 2,
        due_at: Some(NOW + 300),
        untold_failure: Some("Slack did not answer in time.".into()),
        participants_owed: Some(slack_calls::domain::OwedBy::Write(7)),
    };
    call.version = 0;
    call
}

/// Participants of every shape: present and shown, refused, gone.
pub fn participants() -> Vec<Participant> {
    let mut slack = Participant::new(CallUser::Slack {
        slack_id: id("U0002"),
    });
    slack.joined(slack.user.clone(), NOW + 1);
    slack.shown = Some(slack.user.clone());
    let mut guest = Participant::new(CallUser::External {
        external_id: "guest-7".into(),
        display_name: "Guest Seven ✓".into(),
        avatar_url: Some("https://meet.example/a/7.png".into()),
    });
    guest.joined(guest.user.clone(), NOW + 2);
    guest.refused = Some("user_not_found".into());
    let mut gone = Participant::new(CallUser::External {
        external_id: "guest-8".into(),
        display_name: "Guest Eight".into(),
        avatar_url: None,
    });
    gone.left(NOW + 3);
    vec![slack, guest, gone]
}

pub fn sync_job(call: &Call, created_at: i64) -> Job {
    Job::new(
        JobKind::sync_call(call.external_unique_id.clone()),
        created_at,
    )
}

/// One job of every kind.
pub fn jobs_of_every_kind() -> Vec<Job> {
    let kinds = vec![
        JobKind::RegisterCall {
            external_unique_id: id("call-1"),
        },
        JobKind::sync_call(id("call-2")),
        JobKind::Unfurl {
            // An org-wide install: the flattened workspace keeps its organisation.
            workspace: Workspace {
                team_id: id("T0001"),
                enterprise_id: Some(id("E0001")),
                is_enterprise_install: true,
            },
            channel: Some(id("C0001")),
            message_ts: "1700000000.000100".into(),
            unfurl_id: Some("C0001.1700000000000100.abc".into()),
            source: Some(UnfurlSource::ConversationsHistory),
            user_id: id("U0001"),
            links: vec![
                "https://meet.example/a".into(),
                "https://meet.example/b".into(),
            ],
        },
        JobKind::NotifyProvider {
            external_unique_id: id("call-3"),
            // Rejected before Slack gave the call an id.
            payload: ProviderNotice::CallRejected {
                external_unique_id: id("call-3"),
                slack_call_id: None,
                user_id: id("U0002"),
                channel_id: id("D0001"),
                rejected_at: NOW - 1,
                call_ended: true,
            },
        },
        JobKind::DisableInstallation {
            workspace: Workspace::team(id("T0001")),
            reason: "tokens_revoked".into(),
        },
        JobKind::RejectCall {
            slack_call_id: id("R0001"),
            external_unique_id: Some(id("call-4")),
            user_id: id("U0003"),
            channel_id: id("D0001"),
            rejected_at: NOW - 2,
            workspace: Some(Workspace::team(id("T0001"))),
        },
        // The people one write changed, and the call's version it was made from.
        JobKind::sync_written(id("call-5"), vec!["U0002".into(), "guest-7".into()], 7),
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let mut job = Job::new(kind, NOW + i as i64);
            if i % 2 == 1 {
                job.status = JobStatus::Failed;
                job.attempts = 4;
                job.last_error = Some("ratelimited".into());
            }
            job
        })
        .collect()
}

/// A workspace's installation with every field set; `sealed` stands for the sealed bot
/// token (the store never opens it).
pub fn installation(team_id: &str, sealed: &str) -> Installation {
    Installation {
        team_id: Some(id(team_id)),
        team_name: Some("Acme".into()),
        enterprise_id: Some(id("E0ACME")),
        enterprise_name: Some("Acme Group".into()),
        is_enterprise_install: false,
        app_id: Some("A0CALLS".into()),
        bot_user_id: Some(id("U0BOT")),
        bot_scopes: vec![
            "calls:write".into(),
            "links:write".into(),
            "chat:write".into(),
        ],
        installer_user_id: Some(id("U0ADMIN")),
        installed_at: Some(NOW - 60),
        credentials: Some(SealedCredentials {
            bot_token: Sealed::from_base64(sealed.to_owned()),
            refresh_token: Some(Sealed::from_base64(format!("{sealed}-refresh"))),
            expires_at: Some(NOW + 43_200),
        }),
        revoked_token_fingerprint: Some("0123456789abcdef".into()),
        ..Installation::new(InstallationKey::Team(id(team_id)))
    }
}

/// The key of `team_id`'s own installation.
pub fn team_key(team_id: &str) -> InstallationKey {
    InstallationKey::Team(id(team_id))
}

/// An org-wide installation of `enterprise_id`.
pub fn org_installation(enterprise_id: &str, sealed: &str) -> Installation {
    Installation {
        key: InstallationKey::Enterprise(id(enterprise_id)),
        team_id: None,
        team_name: None,
        enterprise_id: Some(id(enterprise_id)),
        is_enterprise_install: true,
        revoked_token_fingerprint: None,
        ..installation("T0UNUSED", sealed)
    }
}

/// `Installation` has no `PartialEq`: compare its serialised form (what the store
/// writes).
pub fn installation_fields(installation: &Installation) -> serde_json::Value {
    serde_json::to_value(installation).expect("an installation serialises")
}
