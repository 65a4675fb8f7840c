//! Calls, jobs and installations for the store tests, with every field set where it
//! matters (so a field the adapters drop or mangle fails a round trip).

#![allow(dead_code)] // Each test crate uses its own subset.

use secrecy::SecretString;
use slack_calls::domain::{
    Call, CallKind, CallState, CallUser, EndReason, Installation, Job, JobKind, JobStatus, NewCall,
    Participant, Rejection,
};
use slack_calls::provider::callback::ProviderNotice;

pub const NOW: i64 = 1_700_000_000;

/// A fresh call (`Registering`, version 0) with a unique id and join URL.
pub fn new_call(created_at: i64) -> Call {
    let id = slack_calls::domain::ids::new_id();
    Call::new(
        NewCall {
            external_unique_id: id.clone(),
            team_id: "T0001".into(),
            channel_id: Some("C0001".into()),
            created_by: "U0001".into(),
            kind: CallKind::Video,
            title: Some("Standup".into()),
            join_url: format!("https://meet.example/{id}"),
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
    call.slack_call_id = Some(format!("R{}", &call.external_unique_id[..10]));
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
    call.participants = vec![
        Participant {
            user: CallUser::Slack {
                slack_id: "U0002".into(),
            },
            present: true,
            last_joined_at: Some(NOW + 1),
            last_left_at: Some(NOW),
        },
        Participant {
            user: CallUser::External {
                external_id: "guest-7".into(),
                display_name: "Guest Seven ✓".into(),
                avatar_url: Some("https://meet.example/a/7.png".into()),
            },
            present: false,
            last_joined_at: None,
            last_left_at: None,
        },
        Participant {
            user: CallUser::External {
                external_id: "guest-8".into(),
                display_name: "Guest Eight".into(),
                avatar_url: None,
            },
            present: true,
            last_joined_at: Some(NOW + 2),
            last_left_at: None,
        },
    ];
    call.rejections = vec![Rejection {
        user_id: "U0003".into(),
        channel_id: "D0003".into(),
        at: NOW + 10,
    }];
    call.block_posted = true;
    call.slack_participants = vec![CallUser::Slack {
        slack_id: "U0002".into(),
    }];
    call.slack_title = Some("Old standup".into());
    call.slack_join_url = Some("https://meet.example/old".into());
    call.slack_desktop_join_url = Some("meet://join/old".into());
    call.slack_ended = true;
    call.version = 0;
    call
}

pub fn sync_job(call: &Call, created_at: i64) -> Job {
    Job::new(
        JobKind::SyncCall {
            external_unique_id: call.external_unique_id.clone(),
        },
        created_at,
    )
}

/// One job of every kind.
pub fn jobs_of_every_kind() -> Vec<Job> {
    let kinds = vec![
        JobKind::RegisterCall {
            external_unique_id: "call-1".into(),
        },
        JobKind::SyncCall {
            external_unique_id: "call-2".into(),
        },
        JobKind::Unfurl {
            team_id: "T0001".into(),
            channel: "C0001".into(),
            message_ts: "1700000000.000100".into(),
            user_id: "U0001".into(),
            links: vec![
                "https://meet.example/a".into(),
                "https://meet.example/b".into(),
            ],
        },
        JobKind::NotifyProvider {
            external_unique_id: "call-3".into(),
            // Rejected before Slack gave the call an id.
            payload: ProviderNotice::CallRejected {
                external_unique_id: "call-3".into(),
                slack_call_id: None,
                user_id: "U0002".into(),
                channel_id: "D0001".into(),
                rejected_at: NOW - 1,
                call_ended: true,
            },
        },
        JobKind::DisableInstallation {
            team_id: "T0001".into(),
            reason: "tokens_revoked".into(),
        },
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

pub fn installation(team_id: &str, token: &str) -> Installation {
    Installation {
        team_id: team_id.into(),
        bot_token: Some(SecretString::from(token.to_owned())),
        scopes: vec![
            "calls:write".into(),
            "links:write".into(),
            "chat:write".into(),
        ],
        disabled_at: None,
        disabled_reason: None,
        revoked_token_fingerprint: Some("0123456789abcdef".into()),
        version: 0,
    }
}

/// `Installation` holds a secret and has no `PartialEq`: compare its serialised form,
/// which includes the token (the store writes it the same way).
pub fn installation_fields(installation: &Installation) -> serde_json::Value {
    serde_json::to_value(installation).expect("an installation serialises")
}
