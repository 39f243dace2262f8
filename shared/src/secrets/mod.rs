//! Secrets: a redacting string type, and [`SecretBox`] which seals secrets for storage (R13).
//!
//! In AWS the box is KMS ([`kms::KmsSecretBox`]); in development and tests it is AES-256-GCM with a
//! local key ([`local::LocalSecretBox`]). Every sealed value is bound to a context string (the
//! account and the field), so a sealed value copied to another record does not open.

pub mod kms;
pub mod local;
pub mod managed;

use async_trait::async_trait;
use std::fmt;
use subtle::ConstantTimeEq;

/// A secret string, held by `secrecy` (its memory is zeroed when dropped). `Debug` and `Display`
/// print `[redacted]`; read it with [`SecretString::expose`]. Equality is constant-time.
#[derive(Clone)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(secrecy::SecretString::from(value.into()))
    }
    /// The secret itself: call only where it leaves the process on purpose (a request to Nhanh).
    pub fn expose(&self) -> &str {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
    /// Constant-time comparison with a candidate (R13). The SHA-256 digests are compared, so not
    /// even the secret's length shows in the time taken.
    pub fn ct_eq(&self, candidate: &str) -> bool {
        use sha2::Digest;
        let ours = sha2::Sha256::digest(self.expose().as_bytes());
        let theirs = sha2::Sha256::digest(candidate.as_bytes());
        ours.as_slice().ct_eq(theirs.as_slice()).into()
    }
    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl Default for SecretString {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other.expose())
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Sealing failed or a sealed value did not open.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The sealed value is malformed or was sealed for another context or key.
    #[error("sealed value does not open: {0}")]
    Corrupt(&'static str),
    /// The key service failed (retryable).
    #[error("key service unavailable: {0}")]
    Unavailable(String),
}

/// Seals secrets for storage and opens them again.
#[async_trait]
pub trait SecretBox: Send + Sync {
    /// Seals `plain` bound to `context`; the result is printable ASCII.
    async fn seal(&self, plain: &SecretString, context: &str) -> Result<String, SecretError>;
    /// Opens a value sealed with the same `context`.
    async fn open(&self, sealed: &str, context: &str) -> Result<SecretString, SecretError>;
}

/// Opened secrets by (sealing context, sealed value): a warm instance opens each sealed value once
/// (one KMS call). The context is part of the key, so a value sealed for one account and field is
/// never handed out for another, as the box itself would refuse it (issue 22: a cache hit skipped
/// that check).
#[derive(Default)]
pub struct OpenCache {
    opened: std::sync::Mutex<std::collections::HashMap<(String, String), SecretString>>,
}

impl OpenCache {
    /// Opens `sealed` with `context` through `secrets`, or returns the value opened before under
    /// the same context.
    pub async fn open(
        &self,
        secrets: &dyn SecretBox,
        sealed: &str,
        context: &str,
    ) -> Result<SecretString, SecretError> {
        let key = (context.to_owned(), sealed.to_owned());
        if let Some(t) = self.opened.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(t);
        }
        let plain = secrets.open(sealed, context).await?;
        if let Ok(mut cache) = self.opened.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, plain.clone());
        }
        Ok(plain)
    }
}

/// The secret fields of a connection, each sealed under its own context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedField {
    /// The app's Secret Key the merchant entered.
    SecretKey,
    /// Nhanh's access token.
    AccessToken,
    /// The webhook verify token.
    VerifyToken,
}

impl SealedField {
    fn as_str(self) -> &'static str {
        match self {
            Self::SecretKey => "secret_key",
            Self::AccessToken => "access_token",
            Self::VerifyToken => "verify_token",
        }
    }
}

/// The sealing context (additional authenticated data) of a secret field of an account: a sealed
/// value moved to another account or field does not open.
pub fn seal_context(account: &crate::domain::AccountId, field: SealedField) -> String {
    format!("acct/{}/{}", account.as_str(), field.as_str())
}

/// Fills a buffer from the OS random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is not recoverable for a service that must issue secrets.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("OS random source unavailable");
    buf
}

/// A random token of `2 * N` lowercase hex characters (letters and digits, as Nhanh's verify token wants).
pub fn random_token<const N: usize>() -> SecretString {
    SecretString::new(hex(&random_bytes::<N>()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: a value opened under one context is not handed out for another from the cache;
    /// the box decides, and it refuses the wrong context.
    #[tokio::test]
    async fn the_open_cache_keeps_the_sealing_context() {
        let sealer = local::LocalSecretBox::from_key_text(crate::testing::TEST_KEY_HEX).unwrap();
        let account = crate::domain::AccountId::parse("385").unwrap();
        let other = crate::domain::AccountId::parse("386").unwrap();
        let (own, foreign) =
            (seal_context(&account, SealedField::AccessToken), seal_context(&other, SealedField::AccessToken));
        let sealed = sealer.seal(&SecretString::new("token-of-385"), &own).await.unwrap();
        let cache = OpenCache::default();
        assert!(cache.open(&sealer, &sealed, &own).await.unwrap().ct_eq("token-of-385"));
        assert!(cache.open(&sealer, &sealed, &foreign).await.is_err(), "another account's context is refused");
    }

    #[test]
    fn never_prints_the_secret() {
        let s = SecretString::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert!(s.ct_eq("hunter2"));
        assert!(!s.ct_eq("hunter3"));
        assert!(!s.ct_eq("hunter"));
    }

    #[test]
    fn tokens_are_hex_of_the_right_length() {
        let t = random_token::<24>();
        assert_eq!(t.expose().len(), 48);
        assert!(t.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(t, random_token::<24>());
    }
}
