//! Order backlogs: under the account, one small mark item per business
//! (`BACKLOG#orders#{app}#{business}`: `seq` counts additions, `drain` marks the running drain in
//! Unix ms) and one item per waiting order (`…#o#{id}`: `stamp`, Unix ns). An order is put before
//! the mark's `seq` moves, and a drain reads the mark before it lists the orders, so an order its
//! listing missed always moves `seq` after the drain read it (and the drain's end is refused).
//! Items per order, not one item holding them all: a write costs by its item's size, and one item
//! of a 3 000-order flash sale would make every webhook a 90 KB write (and moto a bottleneck).

use super::codec::*;
use super::keys::*;
use super::*;
use crate::domain::NhanhId;
use crate::store::{Backlog, BacklogKey, OrderBacklog, WaitingOrder};
use aws_sdk_dynamodb::types::ReturnValue;
use futures::StreamExt;

/// The attribute counting additions.
const SEQ: &str = "seq";
/// The attribute marking a running drain (Unix ms).
const DRAIN: &str = "drain";
/// The attribute holding a waiting order's stamp.
const STAMP: &str = "stamp";
/// How long backlog items outlive their last write.
const BACKLOG_TTL_DAYS: i64 = 7;
/// Conditional deletes of one removal sent at once.
const DELETES_AT_ONCE: usize = 16;

fn mark_sk(key: &BacklogKey) -> String {
    format!("BACKLOG#orders#{}#{}", key.business.app_id, key.business.business_id)
}

fn orders_prefix(key: &BacklogKey) -> String {
    format!("{}#o#", mark_sk(key))
}

fn millis(at: OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 1_000_000
}

fn number(item: &Item, name: &str) -> Option<i128> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

impl DynamoStore {
    /// Puts the waiting orders (a newer stamp replaces an older one): one `PutItem` each (an order
    /// webhook names one order; intake's role needs no batch write).
    async fn put_waiting(&self, key: &BacklogKey, ids: &[NhanhId], at: OffsetDateTime) -> Result<(), StoreError> {
        let stamp = i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX);
        let ttl = n((at + time::Duration::days(BACKLOG_TTL_DAYS)).unix_timestamp());
        let puts = ids.iter().map(|id| {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("PK", s(account_pk(&key.account)))
                .item("SK", s(format!("{}{id}", orders_prefix(key))))
                .item(STAMP, n(stamp))
                .item(TTL_ATTRIBUTE, ttl.clone())
                .send()
        });
        futures::future::try_join_all(puts).await.map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    /// Every waiting order of `key` (strongly consistent, every page).
    async fn waiting(&self, key: &BacklogKey) -> Result<Vec<WaitingOrder>, StoreError> {
        let prefix = orders_prefix(key);
        let items = self.query_all(&account_pk(&key.account), &prefix, false).await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let id = text_attr(item, "SK")?.strip_prefix(&prefix)?.parse::<u64>().ok()?;
                let stamp = i64::try_from(number(item, STAMP)?).ok()?;
                Some(WaitingOrder { id: NhanhId::new(id)?, stamp })
            })
            .collect())
    }

    /// A conditional `UpdateItem` of the mark of `key`: `Ok(false)` when `condition` failed.
    async fn update_mark(
        &self,
        key: &BacklogKey,
        update: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(mark_sk(key)))
            .update_expression(update)
            .condition_expression(condition);
        // DynamoDB refuses a name the expressions do not use.
        for (placeholder, name) in [("#d", DRAIN), ("#s", SEQ)] {
            if update.contains(placeholder) || condition.contains(placeholder) {
                request = request.expression_attribute_names(placeholder, name);
            }
        }
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        conditional(request.send().await)
    }

    /// Deletes one waiting order if its stamp is still `order.stamp`.
    async fn remove_waiting(&self, key: &BacklogKey, order: WaitingOrder) -> Result<(), StoreError> {
        let answer = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(format!("{}{}", orders_prefix(key), order.id)))
            .condition_expression("#s = :stamp")
            .expression_attribute_names("#s", STAMP)
            .expression_attribute_values(":stamp", n(order.stamp))
            .send()
            .await;
        // A newer change of the order stays.
        conditional(answer).map(|_| ())
    }
}

#[async_trait]
impl OrderBacklog for DynamoStore {
    async fn add_orders(
        &self,
        key: &BacklogKey,
        ids: &[NhanhId],
        at: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.put_waiting(key, ids, at).await?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(mark_sk(key)))
            .update_expression("SET #d = if_not_exists(#d, :now), #t = :ttl ADD #s :one")
            .expression_attribute_names("#d", DRAIN)
            .expression_attribute_names("#s", SEQ)
            .expression_attribute_names("#t", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(millis(at)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n((at + time::Duration::days(BACKLOG_TTL_DAYS)).unix_timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        // The mark after the update: ours when it holds our instant. DynamoDB returns it either
        // way; an emulator may list only the attributes whose value changed, so a mark left as it
        // was is then read.
        let marked = match out.attributes.as_ref().and_then(|a| number(a, DRAIN)) {
            Some(marked) => marked,
            None => match self.get_item(account_pk(&key.account), &mark_sk(key)).await? {
                Some(item) => number(&item, DRAIN).unwrap_or(i128::MAX),
                None => i128::MAX,
            },
        };
        if marked == millis(at) {
            return Ok(true);
        }
        if marked >= millis(stale_before) {
            return Ok(false);
        }
        // A mark older than any drain lives: its drain was lost. Take it over (one caller wins).
        self.update_mark(key, "SET #d = :now", "#d = :old", &[(":now", n(millis(at))), (":old", n(marked))]).await
    }

    async fn unmark_drain(&self, key: &BacklogKey, at: OffsetDateTime) -> Result<(), StoreError> {
        // Refused: another caller set a newer mark, which stays.
        self.update_mark(key, "REMOVE #d", "#d = :at", &[(":at", n(millis(at)))]).await.map(|_| ())
    }

    /// The mark first, then the orders (see the module's doc).
    async fn backlog(&self, key: &BacklogKey) -> Result<Backlog, StoreError> {
        let mark = self.get_item(account_pk(&key.account), &mark_sk(key)).await?;
        let mut orders = self.waiting(key).await?;
        orders.sort_by_key(|o| (o.stamp, o.id));
        let seq = mark.as_ref().and_then(|m| number(m, SEQ)).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let drain_since = mark
            .as_ref()
            .and_then(|m| number(m, DRAIN))
            .and_then(|ms| ms.checked_mul(1_000_000))
            .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok());
        Ok(Backlog { orders, seq, drain_since })
    }

    async fn remove_orders(&self, key: &BacklogKey, orders: &[WaitingOrder]) -> Result<(), StoreError> {
        let results: Vec<Result<(), StoreError>> = futures::stream::iter(orders.iter().copied())
            .map(|order| self.remove_waiting(key, order))
            .buffer_unordered(DELETES_AT_ONCE)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn end_drain(&self, key: &BacklogKey, seq: u64) -> Result<bool, StoreError> {
        if seq == 0 {
            // Nothing was ever added: there is no mark.
            return Ok(true);
        }
        self.update_mark(key, "REMOVE #d", "#s = :seq", &[(":seq", n(seq))]).await
    }
}
