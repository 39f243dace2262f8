//! Nhanh rate-limit locks shared by every function instance.

use super::codec::*;
use super::keys::*;
use super::*;

#[async_trait]
impl RateLockStore for DynamoStore {
    async fn locked_until(
        &self,
        app: u64,
        business: u64,
        path: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let Some(item) = self.get_item(lock_pk(app, business), path).await? else { return Ok(None) };
        let until = item
            .get("until")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i128>().ok())
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok());
        Ok(until.filter(|u| *u > now))
    }

    async fn lock(&self, app: u64, business: u64, path: &str, until: OffsetDateTime) -> Result<(), StoreError> {
        let millis = until.unix_timestamp_nanos() / 1_000_000;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(lock_pk(app, business)))
            .key("SK", s(path))
            .update_expression("SET #u = :u, #t = :ttl")
            .condition_expression("attribute_not_exists(#u) OR #u < :u")
            .expression_attribute_names("#u", "until")
            .expression_attribute_names("#t", TTL_ATTRIBUTE)
            .expression_attribute_values(":u", n(millis))
            .expression_attribute_values(":ttl", n((until + time::Duration::days(1)).unix_timestamp()))
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
