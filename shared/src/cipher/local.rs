//! AES-256-GCM with a local key: the cipher of local runs on the embedded store.
//! The key comes from `TOKEN_LOCAL_KEY` (base64 of 32 bytes) or from a key file beside
//! the store, created on first use; the installation key is the associated data.
//! A sealed token is base64 of the 12-byte nonce followed by ciphertext and tag.

use std::path::Path;

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use super::{CipherError, TokenCipher};
use crate::domain::installation::{InstallationKey, Sealed};

const KEY_LEN: usize = 32;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub struct LocalCipher {
    key: RandomizedNonceKey,
}

impl LocalCipher {
    /// A cipher on `key` (32 bytes).
    pub fn new(key: &[u8]) -> Result<Self, CipherError> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, key)
            .map_err(|_| CipherError::BadKey(format!("the key must be {KEY_LEN} bytes")))?;
        Ok(LocalCipher { key })
    }

    /// A cipher on a key given as base64 (`TOKEN_LOCAL_KEY`).
    pub fn from_base64(key: &SecretString) -> Result<Self, CipherError> {
        let bytes = B64
            .decode(key.expose_secret().trim())
            .map_err(|_| CipherError::BadKey("not base64".into()))?;
        Self::new(&bytes)
    }

    /// A cipher on the key in `path`, which is created (readable by its owner only)
    /// with a fresh random key when it does not exist.
    pub fn from_key_file(path: &Path) -> Result<Self, CipherError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&SecretString::from(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut key);
                write_private(path, &B64.encode(key))
                    .map_err(|error| CipherError::BadKey(format!("{}: {error}", path.display())))?;
                Self::new(&key)
            }
            Err(error) => Err(CipherError::BadKey(format!("{}: {error}", path.display()))),
        }
    }

    /// A cipher on a random key that lives as long as the process: tests, and runs
    /// whose installations need not outlive them.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        match Self::new(&key) {
            Ok(cipher) => cipher,
            // 32 bytes is AES-256's key length: this cannot fail.
            Err(error) => unreachable!("a 32-byte key was refused: {error}"),
        }
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[async_trait]
impl TokenCipher for LocalCipher {
    async fn seal(
        &self,
        key: &InstallationKey,
        token: &SecretString,
    ) -> Result<Sealed, CipherError> {
        let context = key.to_string();
        let mut in_out = token.expose_secret().as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| CipherError::Unavailable("AES-GCM sealing failed".into()))?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(Sealed::from_base64(B64.encode(sealed)))
    }

    async fn open(
        &self,
        key: &InstallationKey,
        sealed: &Sealed,
    ) -> Result<SecretString, CipherError> {
        let bytes = B64
            .decode(sealed.as_base64())
            .map_err(|_| CipherError::Unreadable)?;
        if bytes.len() < NONCE_LEN {
            return Err(CipherError::Unreadable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Unreadable)?;
        let context = key.to_string();
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| CipherError::Unreadable)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| CipherError::Unreadable)?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::id;

    #[tokio::test]
    async fn tokens_open_only_under_the_installation_they_were_sealed_for() {
        let cipher = LocalCipher::ephemeral();
        let team = InstallationKey::Team(id("T1"));
        let sealed = cipher
            .seal(&team, &SecretString::from("xoxb-secret"))
            .await
            .unwrap();
        assert!(!sealed.as_base64().contains("xoxb"));
        let opened = cipher.open(&team, &sealed).await.unwrap();
        assert_eq!(opened.expose_secret(), "xoxb-secret");

        let other = InstallationKey::Team(id("T2"));
        assert!(matches!(
            cipher.open(&other, &sealed).await,
            Err(CipherError::Unreadable)
        ));
        let stranger = LocalCipher::ephemeral();
        assert!(matches!(
            stranger.open(&team, &sealed).await,
            Err(CipherError::Unreadable)
        ));
        let garbage = Sealed::from_base64("bm90aGluZw==".into());
        assert!(matches!(
            cipher.open(&team, &garbage).await,
            Err(CipherError::Unreadable)
        ));
    }

    #[tokio::test]
    async fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.key");
        let team = InstallationKey::Team(id("T1"));
        let sealed = LocalCipher::from_key_file(&path)
            .unwrap()
            .seal(&team, &SecretString::from("xoxb-kept"))
            .await
            .unwrap();
        let reopened = LocalCipher::from_key_file(&path).unwrap();
        let token = reopened.open(&team, &sealed).await.unwrap();
        assert_eq!(token.expose_secret(), "xoxb-kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(LocalCipher::from_base64(&SecretString::from("c2hvcnQ=")).is_err());
    }
}
