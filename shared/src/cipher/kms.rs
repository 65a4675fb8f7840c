//! AWS KMS behind [`TokenCipher`]: each token is encrypted directly under the stack's
//! key (`TOKEN_KMS_KEY_ID`; tokens are far below KMS's 4 KB limit, so no envelope is
//! needed), with the installation key as encryption context. Only roles granted
//! `kms:Decrypt` on that key can read a token back.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

use super::{CipherError, TokenCipher};
use crate::domain::installation::{InstallationKey, Sealed};

/// The encryption context's one entry: which installation a token belongs to.
const CONTEXT_KEY: &str = "installation";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub struct KmsCipher {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl std::fmt::Debug for KmsCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsCipher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KmsCipher {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        KmsCipher {
            client,
            key_id: key_id.into(),
        }
    }

    /// A client whose calls end in time (a token is opened inside Slack's 3-second
    /// budget), from the function's SDK configuration.
    pub fn from_sdk_config(sdk_config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        let config = aws_sdk_kms::config::Builder::from(sdk_config)
            .timeout_config(crate::secrets::in_budget_timeouts())
            .retry_config(crate::secrets::in_budget_retries())
            .build();
        Self::new(aws_sdk_kms::Client::from_conf(config), key_id)
    }
}

#[async_trait]
impl TokenCipher for KmsCipher {
    async fn seal(
        &self,
        key: &InstallationKey,
        token: &SecretString,
    ) -> Result<Sealed, CipherError> {
        let answer = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(token.expose_secret().as_bytes()))
            .encryption_context(CONTEXT_KEY, key.to_string())
            .send()
            .await
            .map_err(|error| CipherError::Unavailable(DisplayErrorContext(&error).to_string()))?;
        let blob = answer
            .ciphertext_blob()
            .ok_or_else(|| CipherError::Unavailable("KMS answered without a ciphertext".into()))?;
        Ok(Sealed::from_base64(B64.encode(blob.as_ref())))
    }

    async fn open(
        &self,
        key: &InstallationKey,
        sealed: &Sealed,
    ) -> Result<SecretString, CipherError> {
        let ciphertext = B64
            .decode(sealed.as_base64())
            .map_err(|_| CipherError::Unreadable)?;
        let answer = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(CONTEXT_KEY, key.to_string())
            .send()
            .await
            .map_err(|error| {
                use aws_sdk_kms::operation::decrypt::DecryptError;
                match error.as_service_error() {
                    Some(
                        DecryptError::InvalidCiphertextException(_)
                        | DecryptError::IncorrectKeyException(_),
                    ) => CipherError::Unreadable,
                    _ => CipherError::Unavailable(DisplayErrorContext(&error).to_string()),
                }
            })?;
        let plain = answer
            .plaintext()
            .ok_or_else(|| CipherError::Unavailable("KMS answered without a plaintext".into()))?;
        let text =
            String::from_utf8(plain.as_ref().to_vec()).map_err(|_| CipherError::Unreadable)?;
        Ok(SecretString::from(text))
    }
}
