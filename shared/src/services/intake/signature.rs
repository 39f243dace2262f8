//! The Hub's webhook signature: `X-Hub-Signature: sha256=<hex>`, an HMAC-SHA256 of the raw body.

use crate::secrets::{hex, SecretString};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(super) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

/// Signs a body like the Hub does (`sha256=<hex>`); for tests, benchmarks and the simulator.
pub fn hub_signature(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}
