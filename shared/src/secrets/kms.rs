//! Seals with AWS KMS `Encrypt`/`Decrypt` (secrets are small), bound by an encryption context.

use super::{SecretBox, SecretError, SecretString};
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;

const PREFIX: &str = "k1.";
const CONTEXT_KEY: &str = "nhanhvn:context";

/// A [`SecretBox`] over a KMS key.
pub struct KmsSecretBox {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSecretBox {
    /// A box sealing with `key_id`, its client built from the SDK configuration.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self::new(aws_sdk_kms::Client::new(sdk), key_id.into())
    }

    /// Uses `key_id` (id, ARN or alias) through `client`.
    pub fn new(client: aws_sdk_kms::Client, key_id: String) -> Self {
        Self { client, key_id }
    }
}

#[async_trait]
impl SecretBox for KmsSecretBox {
    async fn seal(&self, plain: &SecretString, context: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(plain.expose().as_bytes()))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(aws_sdk_kms::error::DisplayErrorContext(e).to_string()))?;
        let blob = out.ciphertext_blob.ok_or(SecretError::Corrupt("KMS returned no ciphertext"))?;
        Ok(format!("{PREFIX}{}", B64.encode(blob.as_ref())))
    }

    async fn open(&self, sealed: &str, context: &str) -> Result<SecretString, SecretError> {
        let raw = sealed.strip_prefix(PREFIX).ok_or(SecretError::Corrupt("not a KMS sealed value"))?;
        let bytes = B64.decode(raw).map_err(|_| SecretError::Corrupt("bad encoding"))?;
        let out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(bytes))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_invalid_ciphertext_exception() {
                    SecretError::Corrupt("KMS refused the ciphertext")
                } else {
                    SecretError::Unavailable(e.to_string())
                }
            })?;
        let plain = out.plaintext.ok_or(SecretError::Corrupt("KMS returned no plaintext"))?;
        String::from_utf8(plain.into_inner()).map(SecretString::new).map_err(|_| SecretError::Corrupt("not UTF-8"))
    }
}
