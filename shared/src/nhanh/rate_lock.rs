//! Nhanh's rate-limit locks (`ERR_429` + `unlockedAt`), per app, business and URL. While a URL is
//! locked no call is made: calling while locked makes Nhanh extend the lock (R9).
//!
//! The locks live in the adapter's memory, so they hold for one warm Lambda instance; the call gate
//! ([`super::gate`]) shares them between instances through the table (each business's `LOCK#`
//! item), and a record that meets a lock is retried at its unlock (the queue's delay).

use std::collections::HashMap;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Key of one lock: app, business, API path.
pub type LockKey = (u64, u64, String);

/// The set of active locks.
#[derive(Debug, Default)]
pub struct RateLocks {
    locks: Mutex<HashMap<LockKey, OffsetDateTime>>,
}

impl RateLocks {
    /// Records that `key` is locked until `until` (keeps the later of two locks).
    pub fn lock(&self, key: LockKey, until: OffsetDateTime) {
        if let Ok(mut map) = self.locks.lock() {
            let entry = map.entry(key).or_insert(until);
            if *entry < until {
                *entry = until;
            }
        }
    }

    /// The instant `key` unlocks, if it is locked at `now`.
    pub fn locked_until(&self, key: &LockKey, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let mut map = self.locks.lock().ok()?;
        match map.get(key) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn lock_expires_and_keeps_the_later() {
        let locks = RateLocks::default();
        let now = OffsetDateTime::now_utc();
        let key = (1, 2, "/api/product/search".to_string());
        locks.lock(key.clone(), now + Duration::seconds(10));
        locks.lock(key.clone(), now + Duration::seconds(5));
        assert_eq!(locks.locked_until(&key, now), Some(now + Duration::seconds(10)));
        assert_eq!(locks.locked_until(&(1, 2, "/api/order/index".into()), now), None);
        assert_eq!(locks.locked_until(&key, now + Duration::seconds(11)), None);
    }
}
