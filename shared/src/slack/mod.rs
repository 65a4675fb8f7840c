//! Everything about Slack: request verification, payloads, the Web API port and its
//! reqwest adapter.

mod answer;
pub mod api;
pub mod client;
pub mod error;
pub mod oauth;
pub mod payloads;
pub mod response_url;
pub mod retry;

pub use api::SlackApi;
pub use client::SlackClient;
pub use error::{ApiErrorCode, RetryClass, SlackError};
pub use retry::RetryPolicy;

use crate::signing::SignatureScheme;

/// How Slack signs its requests to us (the signing secret is the app's).
pub const SIGNATURE: SignatureScheme = SignatureScheme {
    timestamp_header: "x-slack-request-timestamp",
    signature_header: "x-slack-signature",
    version: crate::signing::REQUEST_VERSION,
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use secrecy::SecretString;

    use super::SIGNATURE;
    use crate::signing::sign;

    /// Slack's worked example from "Verifying requests from Slack".
    #[test]
    fn slacks_documented_example_verifies() {
        let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5".to_owned());
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(&secret, 1_531_420_618, body), expected);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-slack-request-timestamp",
            HeaderValue::from_static("1531420618"),
        );
        headers.insert("x-slack-signature", HeaderValue::from_static(expected));
        assert_eq!(
            SIGNATURE.verify(&secret, &headers, body, 1_531_420_618 + 60),
            Ok(())
        );
    }
}
