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
}
