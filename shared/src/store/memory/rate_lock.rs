//! The in-memory rate-limit locks and call slots, as the table's lock item holds them.

use super::*;

#[async_trait]
impl RateLockStore for MemoryStore {
    async fn locked_until(
        &self,
        app: u64,
        business: u64,
        path: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.with(|s| Ok(s.rate_locks.get(&(app, business, path.to_owned())).copied().filter(|until| *until > now)))
    }

    async fn lock(&self, app: u64, business: u64, path: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        self.with(|s| {
            let entry = s.rate_locks.entry((app, business, path.to_owned())).or_insert(until);
            *entry = (*entry).max(until);
            Ok(())
        })
    }

    async fn reserve_call(
        &self,
        app: u64,
        business: u64,
        path: &str,
        interval: time::Duration,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, StoreError> {
        self.with(|s| {
            let next = s.next_calls.entry((app, business, path.to_owned())).or_insert(now);
            let slot = (*next).max(now);
            *next = slot + interval;
            Ok(slot)
        })
    }
}
