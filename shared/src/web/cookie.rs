//! The admin cookie: a short-lived, HMAC-signed proof that a Hub admin of an account opened the
//! connect page (R2), and the CSRF token derived from it.

use crate::domain::AccountId;
use crate::secrets::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// Name of the cookie.
pub const COOKIE_NAME: &str = "nhanhvn_admin";
/// Longest life of the cookie.
pub const MAX_AGE_SECS: i64 = 30 * 60;

/// A verified admin cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminCookie {
    /// The account the admin manages.
    pub account_id: AccountId,
    /// The Hub user.
    pub user_id: String,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    payload: String,
}

/// Signs and verifies admin cookies and CSRF tokens.
pub struct CookieSigner {
    key: [u8; 32],
}

impl CookieSigner {
    /// Derives the signing key from `secret` with a purpose label.
    pub fn new(secret: &SecretString) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes()).unwrap_or_else(|_| {
            #[allow(clippy::expect_used)]
            HmacSha256::new_from_slice(b"").expect("HMAC takes any key length")
        });
        mac.update(b"nhanhvn-connector admin cookie v1");
        Self { key: mac.finalize().into_bytes().into() }
    }

    fn mac(&self, label: &[u8], payload: &str) -> Vec<u8> {
        #[allow(clippy::expect_used)]
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label);
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Issues a cookie value for `account`/`user` valid until `expires_at`.
    pub fn issue(&self, account: &AccountId, user_id: &str, expires_at: OffsetDateTime) -> String {
        let payload = format!("{}|{}|{}", account.as_str(), user_id.replace('|', "_"), expires_at.unix_timestamp());
        format!("{}.{}", B64.encode(&payload), B64.encode(self.mac(b"cookie|", &payload)))
    }

    /// Verifies a cookie value at `now`.
    pub fn verify(&self, value: &str, now: OffsetDateTime) -> Option<AdminCookie> {
        let (payload_b64, mac_b64) = value.split_once('.')?;
        let payload = String::from_utf8(B64.decode(payload_b64).ok()?).ok()?;
        let mac = B64.decode(mac_b64).ok()?;
        if !bool::from(self.mac(b"cookie|", &payload).ct_eq(&mac)) {
            return None;
        }
        let mut parts = payload.splitn(3, '|');
        let account_id = AccountId::parse(parts.next()?).ok()?;
        let user_id = parts.next()?.to_owned();
        let expires_at = OffsetDateTime::from_unix_timestamp(parts.next()?.parse().ok()?).ok()?;
        (expires_at > now).then_some(AdminCookie { account_id, user_id, expires_at, payload })
    }

    /// The CSRF token bound to a cookie.
    pub fn csrf_token(&self, cookie: &AdminCookie) -> String {
        B64.encode(self.mac(b"csrf|", &cookie.payload))
    }

    /// Checks a submitted CSRF token in constant time.
    pub fn csrf_ok(&self, cookie: &AdminCookie, submitted: &str) -> bool {
        self.csrf_token(cookie).as_bytes().ct_eq(submitted.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_expire_forge() {
        let signer = CookieSigner::new(&SecretString::new("k"));
        let now = OffsetDateTime::now_utc();
        let acct = AccountId::parse("385").unwrap();
        let value = signer.issue(&acct, "u-17", now + time::Duration::minutes(5));
        let cookie = signer.verify(&value, now).unwrap();
        assert_eq!(cookie.account_id, acct);
        assert!(signer.verify(&value, now + time::Duration::minutes(6)).is_none());
        let other = CookieSigner::new(&SecretString::new("other"));
        assert!(other.verify(&value, now).is_none());
        let forged = format!("{}.{}", B64.encode("386|u-17|9999999999"), value.split('.').nth(1).unwrap());
        assert!(signer.verify(&forged, now).is_none());
        assert!(signer.verify("garbage", now).is_none());
        let csrf = signer.csrf_token(&cookie);
        assert!(signer.csrf_ok(&cookie, &csrf));
        assert!(!signer.csrf_ok(&cookie, "x"));
    }
}
