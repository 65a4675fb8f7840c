//! The meeting provider's side of the integration, both directions:
//!
//! - in: its backend POSTs [`events::ProviderEvent`]s (participants joined / left, call
//!   renamed or moved, call ended) to `/provider/events`, one event or a batch;
//! - out: we POST [`ProviderNotice`](crate::domain::ProviderNotice)s (a declined DM call) to
//!   `PROVIDER_CALLBACK_URL`.
//!
//! Both directions are signed with the provider webhook secret, in [`SIGNATURE`].

pub mod callback;
pub mod events;

use crate::signing::SignatureScheme;

/// How the provider signs its webhooks to us, and we our callbacks to it: Slack's
/// mechanism under the provider's own header names.
pub const SIGNATURE: SignatureScheme = SignatureScheme {
    timestamp_header: "x-provider-request-timestamp",
    signature_header: "x-provider-signature",
};

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use secrecy::SecretString;

    use super::SIGNATURE as PROVIDER;
    use crate::signing::SignatureRefusal;
    use crate::slack::SIGNATURE as SLACK;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"type":"call.ended","external_unique_id":"c1"}"#;

    #[test]
    fn provider_scheme_uses_its_own_headers() {
        let key = SecretString::from("provider-secret".to_owned());
        let headers = PROVIDER.signed_headers(&key, NOW, BODY);
        assert!(headers.contains_key("x-provider-signature"));
        assert_eq!(PROVIDER.verify(&key, &headers, BODY, NOW), Ok(()));
        // Slack's headers are not accepted in place of the provider's, nor the reverse.
        assert_eq!(
            SLACK.verify(&key, &headers, BODY, NOW),
            Err(SignatureRefusal::MissingHeader("x-slack-request-timestamp"))
        );
        let slack_signed = SLACK.signed_headers(&key, NOW, BODY);
        assert_eq!(
            PROVIDER.verify(&key, &slack_signed, BODY, NOW),
            Err(SignatureRefusal::MissingHeader(
                "x-provider-request-timestamp"
            ))
        );
        assert_eq!(
            PROVIDER.verify(&key, &HeaderMap::new(), BODY, NOW),
            Err(SignatureRefusal::MissingHeader(
                "x-provider-request-timestamp"
            ))
        );
    }
}
