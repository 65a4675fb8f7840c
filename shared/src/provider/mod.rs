//! The meeting provider's side of the integration, both directions:
//!
//! - in: its backend POSTs [`events::ProviderEvent`]s (participants joined / left, call
//!   renamed or moved, call ended) to `/provider/events`, one event or a batch;
//! - out: we POST [`ProviderNotice`](crate::domain::ProviderNotice)s (a declined DM call) to
//!   `PROVIDER_CALLBACK_URL`.
//!
//! Both directions are signed with the provider webhook secret: its requests in
//! [`SIGNATURE`] (`v0`, Slack's scheme), our callbacks in [`CALLBACK_SIGNATURE`] (`c0`),
//! so a callback sent back to us is refused like any forged request.

pub mod callback;
pub mod events;

use crate::signing::SignatureScheme;

/// How the provider signs its webhooks to us: Slack's mechanism under the provider's
/// own header names.
pub const SIGNATURE: SignatureScheme = SignatureScheme {
    timestamp_header: "x-provider-request-timestamp",
    signature_header: "x-provider-signature",
    version: crate::signing::REQUEST_VERSION,
};

/// How we sign our callbacks to the provider: the same headers and secret, version
/// `c0` (`c0=hex(HMAC-SHA256(secret, "c0:" + timestamp + ":" + body))`).
pub const CALLBACK_SIGNATURE: SignatureScheme = SignatureScheme {
    version: "c0",
    ..SIGNATURE
};

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use secrecy::SecretString;

    use super::{CALLBACK_SIGNATURE as CALLBACK, SIGNATURE as PROVIDER};
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

    #[test]
    fn a_callback_we_signed_is_never_accepted_as_a_provider_request() {
        let key = SecretString::from("provider-secret".to_owned());
        let callback = CALLBACK.signed_headers(&key, NOW, BODY);
        assert!(callback
            .get("x-provider-signature")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("c0=")));
        assert_eq!(CALLBACK.verify(&key, &callback, BODY, NOW), Ok(()));
        // Same secret, headers and body: refused as a request to us, even with the
        // version rewritten (the signed text differs too).
        assert_eq!(
            PROVIDER.verify(&key, &callback, BODY, NOW),
            Err(SignatureRefusal::MalformedSignature)
        );
        let mut rewritten = callback.clone();
        let value = callback["x-provider-signature"]
            .to_str()
            .expect("ascii")
            .replacen("c0=", "v0=", 1);
        rewritten.insert(
            "x-provider-signature",
            http::HeaderValue::from_str(&value).expect("header value"),
        );
        assert_eq!(
            PROVIDER.verify(&key, &rewritten, BODY, NOW),
            Err(SignatureRefusal::Mismatch)
        );
        // Nor the reverse.
        let request = PROVIDER.signed_headers(&key, NOW, BODY);
        assert_eq!(
            CALLBACK.verify(&key, &request, BODY, NOW),
            Err(SignatureRefusal::MalformedSignature)
        );
    }
}
