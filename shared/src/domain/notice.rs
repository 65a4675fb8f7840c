//! What we tell the provider's backend about a call: a [`ProviderNotice`]. The
//! provider module sends it (`PROVIDER_CALLBACK_URL`); jobs carry it until then.

use serde::{Deserialize, Serialize};

use super::call::UnixSeconds;
use super::ids::{ChannelId, ExternalId, SlackCallId, UserId};

/// A callback's body: `{"type": "call.rejected", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProviderNotice {
    /// The callee declined a DM call (Slack's `call_rejected`).
    #[serde(rename = "call.rejected")]
    CallRejected {
        external_unique_id: ExternalId,
        /// `null` if the call never got its Slack id.
        slack_call_id: Option<SlackCallId>,
        user_id: UserId,
        channel_id: ChannelId,
        rejected_at: UnixSeconds,
        /// Whether the rejection ended the call (nobody had joined).
        call_ended: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(
        slack_call_id: Option<&str>,
        rejected_at: UnixSeconds,
        call_ended: bool,
    ) -> ProviderNotice {
        ProviderNotice::CallRejected {
            external_unique_id: ExternalId::parse("c1").expect("id"),
            slack_call_id: slack_call_id.map(|id| SlackCallId::parse(id).expect("id")),
            user_id: UserId::parse("U2").expect("id"),
            channel_id: ChannelId::parse("D3").expect("id"),
            rejected_at,
            call_ended,
        }
    }

    /// The body the provider has always received (it was a `json!` literal before).
    #[test]
    fn a_rejection_notice_is_the_documented_json() {
        let notice = notice(Some("R1"), 1_700_000_000, true);
        let json = serde_json::to_value(&notice).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "type": "call.rejected",
                "external_unique_id": "c1",
                "slack_call_id": "R1",
                "user_id": "U2",
                "channel_id": "D3",
                "rejected_at": 1_700_000_000,
                "call_ended": true,
            })
        );
        assert_eq!(
            serde_json::from_value::<ProviderNotice>(json).expect("reads back"),
            notice
        );
        let unregistered = self::notice(None, 1, false);
        let json = serde_json::to_value(&unregistered).expect("serialises");
        assert_eq!(json["slack_call_id"], serde_json::Value::Null);
        assert_eq!(json["call_ended"], false);
    }

    #[test]
    fn a_notice_with_a_malformed_id_does_not_read_back() {
        let mut json = serde_json::to_value(notice(Some("R1"), 1, false)).expect("serialises");
        json["user_id"] = serde_json::json!("nobody");
        assert!(serde_json::from_value::<ProviderNotice>(json).is_err());
    }
}
