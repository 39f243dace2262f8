//! Order backlogs: one item per business under its account (`BACKLOG#orders#{app}#{business}`),
//! one attribute per waiting order (`o{id}` = its stamp, Unix ns), `seq` (additions) and `drain`
//! (when the running drain was marked, Unix ms). An addition is one `UpdateItem`; the item is
//! kept for a week after its last addition.

use super::codec::*;
use super::keys::*;
use super::*;
use crate::domain::NhanhId;
use crate::store::{Backlog, BacklogKey, OrderBacklog, WaitingOrder};
use aws_sdk_dynamodb::types::ReturnValue;

/// Prefix of a waiting order's attribute.
const ORDER_ATTRIBUTE_PREFIX: &str = "o";
/// The attribute counting additions.
const SEQ: &str = "seq";
/// The attribute marking a running drain (Unix ms).
const DRAIN: &str = "drain";
/// How long a backlog item outlives its last addition.
const BACKLOG_TTL_DAYS: i64 = 7;
/// Waiting orders removed per conditional `UpdateItem` (its expressions stay far below 4 KB).
const REMOVE_CHUNK: usize = 40;

fn backlog_sk(key: &BacklogKey) -> String {
    format!("BACKLOG#orders#{}#{}", key.business.app_id, key.business.business_id)
}

fn millis(at: OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 1_000_000
}

fn number(item: &Item, name: &str) -> Option<i128> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn is_condition_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    /// One conditional `REMOVE` of `orders` (each only at its stamp); `Ok(false)`: a stamp moved.
    async fn remove_chunk(&self, key: &BacklogKey, orders: &[WaitingOrder]) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(backlog_sk(key)));
        let mut removed = Vec::with_capacity(orders.len());
        let mut conditions = Vec::with_capacity(orders.len());
        for (i, o) in orders.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#a{i}"), format!("{ORDER_ATTRIBUTE_PREFIX}{}", o.id))
                .expression_attribute_values(format!(":v{i}"), n(o.stamp));
            removed.push(format!("#a{i}"));
            conditions.push(format!("#a{i} = :v{i}"));
        }
        let answer = update
            .update_expression(format!("REMOVE {}", removed.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
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
        let stamp = i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(backlog_sk(key)));
        let mut sets = Vec::with_capacity(ids.len() + 2);
        for (i, id) in ids.iter().enumerate() {
            update = update.expression_attribute_names(format!("#o{i}"), format!("{ORDER_ATTRIBUTE_PREFIX}{id}"));
            sets.push(format!("#o{i} = :stamp"));
        }
        sets.push("#d = if_not_exists(#d, :now)".into());
        sets.push("#t = :ttl".into());
        let out = update
            .update_expression(format!("SET {} ADD #s :one", sets.join(", ")))
            .expression_attribute_names("#d", DRAIN)
            .expression_attribute_names("#s", SEQ)
            .expression_attribute_names("#t", TTL_ATTRIBUTE)
            .expression_attribute_values(":stamp", n(stamp))
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
            None => match self.get_item(account_pk(&key.account), &backlog_sk(key)).await? {
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
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(backlog_sk(key)))
            .update_expression("SET #d = :now")
            .condition_expression("#d = :old")
            .expression_attribute_names("#d", DRAIN)
            .expression_attribute_values(":now", n(millis(at)))
            .expression_attribute_values(":old", n(marked))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn unmark_drain(&self, key: &BacklogKey, at: OffsetDateTime) -> Result<(), StoreError> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(backlog_sk(key)))
            .update_expression("REMOVE #d")
            .condition_expression("#d = :at")
            .expression_attribute_names("#d", DRAIN)
            .expression_attribute_values(":at", n(millis(at)))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }

    async fn backlog(&self, key: &BacklogKey) -> Result<Backlog, StoreError> {
        let Some(item) = self.get_item(account_pk(&key.account), &backlog_sk(key)).await? else {
            return Ok(Backlog::default());
        };
        let mut orders: Vec<WaitingOrder> = item
            .iter()
            .filter_map(|(name, value)| {
                let id = name.strip_prefix(ORDER_ATTRIBUTE_PREFIX)?.parse::<u64>().ok()?;
                let stamp = value.as_n().ok()?.parse::<i64>().ok()?;
                Some(WaitingOrder { id: NhanhId::new(id)?, stamp })
            })
            .collect();
        orders.sort_by_key(|o| (o.stamp, o.id));
        let seq = number(&item, SEQ).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        let drain_since = number(&item, DRAIN)
            .and_then(|ms| ms.checked_mul(1_000_000))
            .and_then(|ns| OffsetDateTime::from_unix_timestamp_nanos(ns).ok());
        Ok(Backlog { orders, seq, drain_since })
    }

    async fn remove_orders(&self, key: &BacklogKey, orders: &[WaitingOrder]) -> Result<(), StoreError> {
        for chunk in orders.chunks(REMOVE_CHUNK) {
            if !self.remove_chunk(key, chunk).await? {
                // A stamp of this chunk moved (a newer change): remove the others one by one.
                for order in chunk {
                    self.remove_chunk(key, std::slice::from_ref(order)).await?;
                }
            }
        }
        Ok(())
    }

    async fn end_drain(&self, key: &BacklogKey, seq: u64) -> Result<bool, StoreError> {
        if seq == 0 {
            // Nothing was ever added: there is no item, hence no mark.
            return Ok(true);
        }
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(&key.account)))
            .key("SK", s(backlog_sk(key)))
            .update_expression("REMOVE #d")
            .condition_expression("#s = :seq")
            .expression_attribute_names("#d", DRAIN)
            .expression_attribute_names("#s", SEQ)
            .expression_attribute_values(":seq", n(seq))
            .send()
            .await;
        match answer {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e.into_service_error())),
        }
    }
}
