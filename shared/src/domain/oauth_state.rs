//! The OAuth `state` of one install attempt: single use, short-lived, and bound to the
//! browser that started it.
//!
//! The browser gets a random nonce in a cookie; the stored state keeps only the nonce's
//! SHA-256, so a read of the table cannot forge the cookie.

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::call::UnixSeconds;

/// How long an install attempt may take, from the install link to Slack's redirect.
pub const OAUTH_STATE_TTL_SECONDS: i64 = 600;
/// Longest `state` accepted back from a redirect: ours are 64 hex characters.
pub const MAX_STATE_BYTES: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// Sent to Slack and back in the redirect: 256 random bits, hex.
    pub state: String,
    /// SHA-256 of the browser's cookie nonce, hex.
    pub browser_digest: String,
    pub created_at: UnixSeconds,
    pub expires_at: UnixSeconds,
}

/// What a redirect's state and cookie amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCheck {
    Valid,
    Expired,
    /// No cookie, or another browser's.
    WrongBrowser,
}

impl OAuthState {
    /// A fresh state, and the nonce to put in the browser's cookie.
    pub fn issue(now: UnixSeconds) -> (OAuthState, SecretString) {
        let state = random_hex();
        let nonce = random_hex();
        let issued = OAuthState {
            state,
            browser_digest: digest(&nonce),
            created_at: now,
            expires_at: now + OAUTH_STATE_TTL_SECONDS,
        };
        (issued, SecretString::from(nonce))
    }

    pub fn is_expired(&self, now: UnixSeconds) -> bool {
        now >= self.expires_at
    }

    /// Checks a state taken from the store against the time and the browser's cookie.
    pub fn check(&self, cookie_nonce: Option<&SecretString>, now: UnixSeconds) -> StateCheck {
        if self.is_expired(now) {
            return StateCheck::Expired;
        }
        // Digests of secrets: comparing them leaks nothing about the nonce.
        match cookie_nonce {
            Some(nonce) if digest(nonce.expose_secret()) == self.browser_digest => {
                StateCheck::Valid
            }
            _ => StateCheck::WrongBrowser,
        }
    }
}

/// Whether `state` could be one of ours (so junk never reaches the store's keys).
pub fn is_plausible_state(state: &str) -> bool {
    !state.is_empty()
        && state.len() <= MAX_STATE_BYTES
        && state.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(nonce: &str) -> String {
    hex::encode(Sha256::digest(nonce.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_holds_for_its_browser_until_it_expires() {
        let (state, nonce) = OAuthState::issue(1_000);
        assert!(is_plausible_state(&state.state));
        assert_eq!(state.expires_at, 1_000 + OAUTH_STATE_TTL_SECONDS);
        assert_ne!(state.browser_digest, nonce.expose_secret(), "only a digest");
        assert_eq!(state.check(Some(&nonce), 1_000), StateCheck::Valid);
        assert_eq!(
            state.check(Some(&nonce), 1_000 + OAUTH_STATE_TTL_SECONDS - 1),
            StateCheck::Valid
        );
        assert_eq!(
            state.check(Some(&nonce), 1_000 + OAUTH_STATE_TTL_SECONDS),
            StateCheck::Expired
        );
        assert_eq!(state.check(None, 1_000), StateCheck::WrongBrowser);
        let (_, other) = OAuthState::issue(1_000);
        assert_eq!(state.check(Some(&other), 1_000), StateCheck::WrongBrowser);
    }

    #[test]
    fn states_are_unpredictable_and_junk_is_not_a_state() {
        let (a, _) = OAuthState::issue(1);
        let (b, _) = OAuthState::issue(1);
        assert_ne!(a.state, b.state);
        assert_eq!(a.state.len(), 64);
        for junk in ["", "a b", "x#y", &"a".repeat(MAX_STATE_BYTES + 1)] {
            assert!(!is_plausible_state(junk), "{junk:?}");
        }
    }
}
