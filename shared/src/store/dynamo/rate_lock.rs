//! Nhanh rate-limit locks shared by every function instance: one item per (app, business), one
//! attribute per API path (`until {path}`, Unix ms), so the processor reads them with the
//! connection in one `BatchGetItem`.
//!
//! Decision: locks written by earlier releases (one item per path) are not read. A lock lasts
//! seconds to minutes, so at worst one call per path meets the lock again right after a deploy,
//! and records it in the new form.

use super::codec::*;
use super::keys::*;
use super::*;
use crate::domain::NhanhBusiness;
use crate::store::RateLockSnapshot;

/// The locks of a lock item still running at `now`.
fn running_locks(item: &Item, now: OffsetDateTime) -> RateLockSnapshot {
    item.iter()
        .filter_map(|(name, value)| {
            let path = name.strip_prefix(LOCK_ATTRIBUTE_PREFIX)?;
            let millis = value.as_n().ok()?.parse::<i128>().ok()?;
            let until = OffsetDateTime::from_unix_timestamp_nanos(millis.checked_mul(1_000_000)?).ok()?;
            (until > now).then(|| (path.to_owned(), until))
        })
        .collect()
}

impl DynamoStore {
    /// The connection of `account` and the running locks of `business`, in one `BatchGetItem`.
    pub(super) async fn connection_and_locks(
        &self,
        account: &AccountId,
        business: NhanhBusiness,
        now: OffsetDateTime,
    ) -> Result<(Option<Item>, RateLockSnapshot), StoreError> {
        let connection_key = (account_pk(account), CONNECTION_SK.to_owned());
        let locks_key = (lock_pk(business.app_id, business.business_id), LOCKS_SK.to_owned());
        let mut found = self.batch_get_keys(&[connection_key.clone(), locks_key.clone()]).await?;
        let locks = found.remove(&locks_key).map(|item| running_locks(&item, now)).unwrap_or_default();
        Ok((found.remove(&connection_key), locks))
    }
}

#[async_trait]
impl RateLockStore for DynamoStore {
    async fn locked_until(
        &self,
        app: u64,
        business: u64,
        path: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let Some(item) = self.get_item(lock_pk(app, business), LOCKS_SK).await? else { return Ok(None) };
        Ok(running_locks(&item, now).into_iter().find(|(p, _)| p == path).map(|(_, until)| until))
    }

    async fn lock(&self, app: u64, business: u64, path: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        let millis = until.unix_timestamp_nanos() / 1_000_000;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(lock_pk(app, business)))
            .key("SK", s(LOCKS_SK))
            .update_expression("SET #u = :u, #t = :ttl")
            .condition_expression("attribute_not_exists(#u) OR #u < :u")
            .expression_attribute_names("#u", format!("{LOCK_ATTRIBUTE_PREFIX}{path}"))
            .expression_attribute_names("#t", TTL_ATTRIBUTE)
            .expression_attribute_values(":u", n(millis))
            .expression_attribute_values(
                ":ttl",
                n(until.checked_add(time::Duration::days(1)).unwrap_or(until).unix_timestamp()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                // A later lock is recorded already: it wins.
                if e.is_conditional_check_failed_exception() {
                    Ok(())
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    /// GCRA in the lock item: `next {path}` holds the next free slot (Unix ms). A busy URL moves it
    /// on by `interval` (condition: it is not in the past); an idle one (absent, or in the past)
    /// restarts it one interval after `now`. Either way the slot is the new value less one
    /// interval, read from the same conditional `UpdateItem`. Two tries each way cover a race with
    /// another instance.
    async fn reserve_call(
        &self,
        app: u64,
        business: u64,
        path: &str,
        interval: time::Duration,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, StoreError> {
        let now_ms = now.unix_timestamp_nanos() / 1_000_000;
        let step = interval.whole_milliseconds();
        let name = format!("{NEXT_CALL_ATTRIBUTE_PREFIX}{path}");
        let ttl = n((now + time::Duration::days(1)).unix_timestamp());
        let ways = [
            ("SET #n = #n + :v, #t = :ttl", "#n >= :now", step),
            ("SET #n = :v, #t = :ttl", "attribute_not_exists(#n) OR #n < :now", now_ms + step),
        ];
        for (update, condition, value) in ways.iter().cycle().take(4) {
            let answer = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("PK", s(lock_pk(app, business)))
                .key("SK", s(LOCKS_SK))
                .update_expression(*update)
                .condition_expression(*condition)
                .expression_attribute_names("#n", &name)
                .expression_attribute_names("#t", TTL_ATTRIBUTE)
                .expression_attribute_values(":v", n(*value))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":ttl", ttl.clone())
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
                .await;
            let out = match answer {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => continue,
                Err(e) => return Err(unavailable(e.into_service_error())),
            };
            let next = out
                .attributes
                .as_ref()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i128>().ok())
                .ok_or_else(|| StoreError::Corrupt("call slot without a value".into()))?;
            return OffsetDateTime::from_unix_timestamp_nanos((next - step) * 1_000_000)
                .map_err(|e| StoreError::Corrupt(e.to_string()));
        }
        Err(StoreError::Conflict)
    }
}
