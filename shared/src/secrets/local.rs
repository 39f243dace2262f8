//! AES-256-GCM with a local key (`LOCAL_DATA_KEY`, 32 bytes as base64 or 64 hex characters).

use super::{random_bytes, SecretBox, SecretError, SecretString};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;

const PREFIX: &str = "l1.";

/// Seals with AES-256-GCM; the output is `l1.` + base64(nonce ‖ ciphertext).
pub struct LocalSecretBox {
    cipher: Aes256Gcm,
}

impl LocalSecretBox {
    /// Builds the box from the key text; `None` if it is not 32 bytes of base64 or hex.
    pub fn from_key_text(key: &str) -> Option<Self> {
        let key = key.trim();
        let bytes = if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?
        } else {
            base64::engine::general_purpose::STANDARD.decode(key).ok()?
        };
        let cipher = Aes256Gcm::new_from_slice(&bytes).ok()?;
        Some(Self { cipher })
    }
}

#[async_trait]
impl SecretBox for LocalSecretBox {
    async fn seal(&self, plain: &SecretString, context: &str) -> Result<String, SecretError> {
        let nonce_bytes = random_bytes::<12>();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload { msg: plain.expose().as_bytes(), aad: context.as_bytes() },
            )
            .map_err(|_| SecretError::Corrupt("encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{PREFIX}{}", B64.encode(out)))
    }

    async fn open(&self, sealed: &str, context: &str) -> Result<SecretString, SecretError> {
        let raw = sealed.strip_prefix(PREFIX).ok_or(SecretError::Corrupt("not a local sealed value"))?;
        let bytes = B64.decode(raw).map_err(|_| SecretError::Corrupt("bad encoding"))?;
        if bytes.len() < 12 + 16 {
            return Err(SecretError::Corrupt("too short"));
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() })
            .map_err(|_| SecretError::Corrupt("authentication failed"))?;
        String::from_utf8(plain).map(SecretString::new).map_err(|_| SecretError::Corrupt("not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed() -> LocalSecretBox {
        LocalSecretBox::from_key_text(&"ab".repeat(32)).unwrap()
    }

    #[tokio::test]
    async fn round_trip_bound_to_context() {
        let b = boxed();
        let sealed = b.seal(&SecretString::new("s3cret"), "acct/1/secret").await.unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(b.open(&sealed, "acct/1/secret").await.unwrap().expose(), "s3cret");
        assert!(b.open(&sealed, "acct/2/secret").await.is_err());
        assert!(b.open("l1.AAAA", "acct/1/secret").await.is_err());
        assert!(b.open("garbage", "x").await.is_err());
    }

    #[test]
    fn key_formats() {
        assert!(LocalSecretBox::from_key_text(&"00".repeat(32)).is_some());
        assert!(LocalSecretBox::from_key_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").is_some());
        assert!(LocalSecretBox::from_key_text("short").is_none());
    }
}
