//! Request authenticity, the mechanism every scheme shares: Slack's `v0` signing, which
//! the provider webhook uses too, under its own header names, and our callbacks to the
//! provider under their own version (each scheme is declared beside its party:
//! `slack::SIGNATURE`, `provider::SIGNATURE`, `provider::CALLBACK_SIGNATURE`).
//!
//! `signature = version + "=" + hex(HMAC-SHA256(secret, version + ":" + timestamp + ":" + raw body))`
//! (`version` is `v0` for requests to us), with the timestamp in its own header and at
//! most five minutes from now either way. Verification runs over the raw body bytes
//! before anything parses them, compares in constant time, and fails closed: no secret
//! configured means every request is refused. A signature of another version never
//! verifies, so what we sign can never be sent back to us as a request.

use hmac::{Hmac, KeyInit, Mac};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far a request's timestamp may be from now, either way (Slack's replay window).
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

/// The version of the requests Slack and the provider sign for us.
pub const REQUEST_VERSION: &str = "v0";
/// Hex digits of an HMAC-SHA256.
const MAC_HEX_LEN: usize = 64;

/// Which headers carry a signed request's timestamp and signature, and the version
/// that prefixes both the signature and the signed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureScheme {
    /// Header names; matched case-insensitively (API Gateway lowercases them).
    pub timestamp_header: &'static str,
    pub signature_header: &'static str,
    /// `v0` for requests to us ([`REQUEST_VERSION`]).
    pub version: &'static str,
}

/// What a verified request was signed with: its timestamp, and a digest of its
/// signature that names this one request (to spot a replay) without being the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub timestamp: i64,
    pub digest: String,
}

/// Why a request was refused. Each maps to HTTP 401; the `Display` text is safe to log:
/// it never contains the signature, the secret or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefusal {
    #[error("no signing secret is configured")]
    NoSecret,
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    #[error("the timestamp is not a whole number of seconds")]
    InvalidTimestamp,
    #[error("the timestamp is more than five minutes from now")]
    OutsideWindow,
    #[error("the signature is not its version, = and 64 hex digits")]
    MalformedSignature,
    #[error("the signature does not match")]
    Mismatch,
}

impl SignatureRefusal {
    /// A short machine-friendly reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureRefusal::NoSecret => "no_secret",
            SignatureRefusal::MissingHeader(_) => "missing_header",
            SignatureRefusal::DuplicateHeader(_) => "duplicate_header",
            SignatureRefusal::InvalidTimestamp => "invalid_timestamp",
            SignatureRefusal::OutsideWindow => "outside_window",
            SignatureRefusal::MalformedSignature => "malformed_signature",
            SignatureRefusal::Mismatch => "mismatch",
        }
    }

    /// Every refusal is answered the same way, so callers learn nothing from the status.
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::UNAUTHORIZED
    }
}

/// `v0=<hex>` for `body` sent at `timestamp`: a request to us, for tests and the local
/// demo.
pub fn sign(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    sign_version(REQUEST_VERSION, secret, timestamp, body)
}

fn sign_version(version: &str, secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mac = mac_over(version, secret.expose_secret().as_bytes(), timestamp, body);
    format!("{version}={}", hex::encode(mac.finalize().into_bytes()))
}

impl SignatureScheme {
    /// Checks the timestamp and signature headers against `body`, in that order:
    /// secret configured, headers present once each, timestamp within the window,
    /// signature well-formed, then the HMAC in constant time.
    pub fn verify(
        &self,
        secret: &SecretString,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureRefusal> {
        let secret = secret.expose_secret();
        if secret.trim().is_empty() {
            return Err(SignatureRefusal::NoSecret);
        }
        let timestamp = single_header(headers, self.timestamp_header)?;
        let signature = single_header(headers, self.signature_header)?;

        let timestamp = parse_timestamp(timestamp.as_bytes())?;
        if now.abs_diff(timestamp) > MAX_CLOCK_SKEW_SECS.unsigned_abs() {
            return Err(SignatureRefusal::OutsideWindow);
        }

        let expected = parse_signature(self.version, signature.as_bytes())?;
        mac_over(self.version, secret.as_bytes(), timestamp, body)
            .verify_slice(&expected)
            .map_err(|_| SignatureRefusal::Mismatch)
    }

    /// The timestamp and signature digest of a request [`verify`](Self::verify)
    /// accepted; `None` if its headers do not hold them.
    pub fn signed_request(&self, headers: &HeaderMap) -> Option<SignedRequest> {
        let timestamp = single_header(headers, self.timestamp_header).ok()?;
        let timestamp = parse_timestamp(timestamp.as_bytes()).ok()?;
        let signature = single_header(headers, self.signature_header).ok()?;
        let mac = parse_signature(self.version, signature.as_bytes()).ok()?;
        // Uppercase and lowercase hex are the same signature: digest the bytes.
        let digest = Sha256::new()
            .chain_update(timestamp.to_be_bytes())
            .chain_update(mac)
            .finalize();
        Some(SignedRequest {
            timestamp,
            digest: hex::encode(&digest[..16]),
        })
    }

    /// The two headers that sign `body` at `timestamp` (for tests, the local demo and
    /// our signed callbacks). A scheme built with an invalid header name gets no header
    /// of that name, so its requests fail verification rather than panic here.
    pub fn signed_headers(&self, secret: &SecretString, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(2);
        if let Ok(name) = HeaderName::from_bytes(self.timestamp_header.as_bytes()) {
            headers.insert(name, HeaderValue::from(timestamp));
        }
        // A signature is the version, "=" and hex digits, a valid header value.
        if let (Ok(name), Ok(mut value)) = (
            HeaderName::from_bytes(self.signature_header.as_bytes()),
            HeaderValue::from_str(&sign_version(self.version, secret, timestamp, body)),
        ) {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers
    }
}

fn mac_over(version: &str, secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // An invariant, not an input check: HMAC pads or hashes keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac =
        HmacSha256::new_from_slice(secret).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(version.as_bytes());
    mac.update(b":");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<&'a HeaderValue, SignatureRefusal> {
    let mut values = headers.get_all(name).iter();
    let first = values.next().ok_or(SignatureRefusal::MissingHeader(name))?;
    if values.next().is_some() {
        return Err(SignatureRefusal::DuplicateHeader(name));
    }
    Ok(first)
}

fn parse_timestamp(raw: &[u8]) -> Result<i64, SignatureRefusal> {
    // Digits only: no sign, no spaces, no fraction. Twelve digits reach year 33658.
    if raw.is_empty() || raw.len() > 12 || !raw.iter().all(u8::is_ascii_digit) {
        return Err(SignatureRefusal::InvalidTimestamp);
    }
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(SignatureRefusal::InvalidTimestamp)
}

/// `version=` and 64 hex digits, as bytes.
fn parse_signature(version: &str, raw: &[u8]) -> Result<[u8; 32], SignatureRefusal> {
    let prefix = version.len() + 1;
    let shaped = raw.len() == prefix + MAC_HEX_LEN
        && raw.starts_with(version.as_bytes())
        && raw[version.len()] == b'=';
    if !shaped {
        return Err(SignatureRefusal::MalformedSignature);
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(&raw[prefix..], &mut bytes)
        .map_err(|_| SignatureRefusal::MalformedSignature)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::SIGNATURE as PROVIDER;
    use crate::slack::SIGNATURE as SLACK;

    const SECRET: &str = "test-signing-secret";
    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"type":"event_callback","event_id":"Ev1"}"#;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    fn headers(scheme: SignatureScheme, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            scheme.timestamp_header,
            HeaderValue::from_str(timestamp).expect("test timestamp is a header value"),
        );
        headers.insert(
            scheme.signature_header,
            HeaderValue::from_str(signature).expect("test signature is a header value"),
        );
        headers
    }

    fn signed(scheme: SignatureScheme, timestamp: i64, body: &[u8]) -> HeaderMap {
        scheme.signed_headers(&secret(SECRET), timestamp, body)
    }

    #[test]
    fn valid_request_passes_with_any_header_case() {
        assert_eq!(
            SLACK.verify(&secret(SECRET), &signed(SLACK, NOW, BODY), BODY, NOW),
            Ok(())
        );
        // HeaderMap names are case-insensitive: mixed-case input lands in the same entry.
        let mut mixed = HeaderMap::new();
        mixed.insert(
            HeaderName::from_bytes(b"X-Slack-Request-Timestamp").expect("valid name"),
            HeaderValue::from(NOW),
        );
        mixed.insert(
            HeaderName::from_bytes(b"X-Slack-Signature").expect("valid name"),
            HeaderValue::from_str(&sign(&secret(SECRET), NOW, BODY)).expect("valid value"),
        );
        assert_eq!(SLACK.verify(&secret(SECRET), &mixed, BODY, NOW), Ok(()));
        // A scheme spelled in the documentation's case reads the same headers.
        let spelled = SignatureScheme {
            timestamp_header: "X-Slack-Request-Timestamp",
            signature_header: "X-Slack-Signature",
            version: REQUEST_VERSION,
        };
        let lowercase = signed(SLACK, NOW, BODY);
        assert_eq!(
            spelled.verify(&secret(SECRET), &lowercase, BODY, NOW),
            Ok(())
        );
        assert_eq!(
            spelled.signed_headers(&secret(SECRET), NOW, BODY),
            lowercase
        );
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let headers = signed(SLACK, NOW, BODY);
        assert_eq!(
            SLACK.verify(&secret("another-secret"), &headers, BODY, NOW),
            Err(SignatureRefusal::Mismatch)
        );
    }

    #[test]
    fn one_tampered_byte_is_a_mismatch() {
        let headers = signed(SLACK, NOW, BODY);
        for index in [0, BODY.len() / 2, BODY.len() - 1] {
            let mut tampered = BODY.to_vec();
            tampered[index] ^= 0x01;
            assert_eq!(
                SLACK.verify(&secret(SECRET), &headers, &tampered, NOW),
                Err(SignatureRefusal::Mismatch),
                "byte {index}"
            );
        }
        let mut longer = BODY.to_vec();
        longer.push(b' ');
        assert_eq!(
            SLACK.verify(&secret(SECRET), &headers, &longer, NOW),
            Err(SignatureRefusal::Mismatch)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_are_refused_both_ways() {
        let key = secret(SECRET);
        for (timestamp, expected) in [
            (NOW - 301, Err(SignatureRefusal::OutsideWindow)),
            (NOW + 301, Err(SignatureRefusal::OutsideWindow)),
            (NOW - 300, Ok(())),
            (NOW + 300, Ok(())),
        ] {
            // Correctly signed, so only the window can refuse it.
            let headers = signed(SLACK, timestamp, BODY);
            assert_eq!(
                SLACK.verify(&key, &headers, BODY, NOW),
                expected,
                "{timestamp}"
            );
        }
    }

    #[test]
    fn missing_headers_are_named() {
        let full = signed(SLACK, NOW, BODY);
        let key = secret(SECRET);
        let mut no_timestamp = full.clone();
        no_timestamp.remove(SLACK.timestamp_header);
        assert_eq!(
            SLACK.verify(&key, &no_timestamp, BODY, NOW),
            Err(SignatureRefusal::MissingHeader("x-slack-request-timestamp"))
        );
        let mut no_signature = full;
        no_signature.remove(SLACK.signature_header);
        assert_eq!(
            SLACK.verify(&key, &no_signature, BODY, NOW),
            Err(SignatureRefusal::MissingHeader("x-slack-signature"))
        );
        assert_eq!(
            SLACK.verify(&key, &HeaderMap::new(), BODY, NOW),
            Err(SignatureRefusal::MissingHeader("x-slack-request-timestamp"))
        );
    }

    #[test]
    fn duplicate_headers_are_refused() {
        let key = secret(SECRET);
        let mut twice_signed = signed(SLACK, NOW, BODY);
        let good = sign(&key, NOW, BODY);
        twice_signed.append(
            SLACK.signature_header,
            HeaderValue::from_str(&good).expect("valid value"),
        );
        assert_eq!(
            SLACK.verify(&key, &twice_signed, BODY, NOW),
            Err(SignatureRefusal::DuplicateHeader("x-slack-signature"))
        );
        let mut twice_timed = signed(SLACK, NOW, BODY);
        twice_timed.append(SLACK.timestamp_header, HeaderValue::from(NOW));
        assert_eq!(
            SLACK.verify(&key, &twice_timed, BODY, NOW),
            Err(SignatureRefusal::DuplicateHeader(
                "x-slack-request-timestamp"
            ))
        );
    }

    #[test]
    fn non_numeric_timestamps_are_refused() {
        let key = secret(SECRET);
        let signature = sign(&key, NOW, BODY);
        for timestamp in [
            "",
            "abc",
            "-1700000000",
            "+1700000000",
            "1700000000.5",
            " 1700000000",
            "17e8",
            "1234567890123",
        ] {
            let headers = headers(SLACK, timestamp, &signature);
            assert_eq!(
                SLACK.verify(&key, &headers, BODY, NOW),
                Err(SignatureRefusal::InvalidTimestamp),
                "{timestamp:?}"
            );
        }
    }

    #[test]
    fn signatures_of_the_wrong_shape_are_malformed() {
        let key = secret(SECRET);
        let good = sign(&key, NOW, BODY);
        let timestamp = NOW.to_string();
        let wrong = [
            good[..good.len() - 1].to_owned(), // one digit short
            format!("{good}0"),                // one digit long
            good.replacen("v0=", "v1=", 1),    // other version
            good.replacen("v0=", "", 1),       // no prefix
            format!("v0={}", "z".repeat(64)),  // not hex
            String::new(),                     // empty
        ];
        for signature in &wrong {
            let headers = headers(SLACK, &timestamp, signature);
            assert_eq!(
                SLACK.verify(&key, &headers, BODY, NOW),
                Err(SignatureRefusal::MalformedSignature),
                "{signature:?}"
            );
        }
        // Uppercase hex decodes to the same bytes, so it is the same signature.
        let upper = format!("v0={}", good[3..].to_ascii_uppercase());
        assert_eq!(
            SLACK.verify(&key, &headers(SLACK, &timestamp, &upper), BODY, NOW),
            Ok(())
        );
    }

    #[test]
    fn empty_secret_refuses_everything() {
        // Signed with the empty key, so only the fail-closed rule can refuse it.
        let empty = secret("");
        let headers = SLACK.signed_headers(&empty, NOW, BODY);
        assert_eq!(
            SLACK.verify(&empty, &headers, BODY, NOW),
            Err(SignatureRefusal::NoSecret)
        );
        assert_eq!(
            SLACK.verify(&secret("   "), &headers, BODY, NOW),
            Err(SignatureRefusal::NoSecret)
        );
        assert_eq!(
            PROVIDER.verify(&empty, &HeaderMap::new(), BODY, NOW),
            Err(SignatureRefusal::NoSecret)
        );
    }

    #[test]
    fn refusals_say_nothing_secret_and_map_to_401() {
        let key = secret(SECRET);
        let signature = sign(&key, NOW, BODY);
        let refusal = SLACK
            .verify(&secret("other"), &signed(SLACK, NOW, BODY), BODY, NOW)
            .expect_err("wrong secret");
        let shown = format!("{refusal} {refusal:?} {}", refusal.reason());
        for secret_text in [SECRET, "other", &signature[3..], "event_callback"] {
            assert!(
                !shown.contains(secret_text),
                "{secret_text} leaked: {shown}"
            );
        }
        assert_eq!(refusal.status(), http::StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn signed_request_names_one_request() {
        let key = secret(SECRET);
        let original = signed(SLACK, NOW, BODY);
        let signed_request = SLACK.signed_request(&original).expect("signed");
        assert_eq!(signed_request.timestamp, NOW);
        assert_eq!(signed_request.digest.len(), 32);
        // Not the signature itself.
        let signature = sign(&key, NOW, BODY);
        assert!(!signature.contains(&signed_request.digest));
        // The same request again: the same digest, whatever the hex case.
        let upper = format!("v0={}", signature[3..].to_ascii_uppercase());
        let again = headers(SLACK, &NOW.to_string(), &upper);
        assert_eq!(SLACK.signed_request(&again), Some(signed_request.clone()));
        // Another body or another second: another digest.
        let other_body = signed(SLACK, NOW, b"{}");
        let other_time = signed(SLACK, NOW + 1, BODY);
        for other in [other_body, other_time] {
            assert_ne!(
                SLACK.signed_request(&other).map(|s| s.digest),
                Some(signed_request.digest.clone())
            );
        }
        assert_eq!(SLACK.signed_request(&HeaderMap::new()), None);
    }
}
