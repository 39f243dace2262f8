//! The Hub outage (`HUB` / `OUTAGE`: `since` in Unix ms, `account`, `reason`) and the records
//! parked during it (`PARKED` / `{account}#{parked ms, 13 digits}#{message id}`, kept 30 days at
//! most): one partition, read account by account, each account's records oldest first.

use super::codec::*;
use super::keys::*;
use super::*;
use crate::store::{HubOutage, OutageStore, ParkedRecord};
use aws_sdk_dynamodb::types::{ConditionCheck, DeleteRequest};

/// How long a parked record is kept should no probe ever end the outage.
const PARKED_TTL_DAYS: i64 = 30;

fn ms(at: OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 1_000_000
}

fn from_ms(item: &Item, name: &str) -> Option<OffsetDateTime> {
    let millis = item.get(name)?.as_n().ok()?.parse::<i128>().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(millis.checked_mul(1_000_000)?).ok()
}

fn parked_sk(record: &ParkedRecord) -> String {
    format!("{}#{:013}#{}", record.account.as_str(), ms(record.parked_at).max(0), record.message_id)
}

fn parked_of(item: &Item) -> Option<ParkedRecord> {
    Some(ParkedRecord {
        parked_at: from_ms(item, "parked_at")?,
        account: AccountId::parse(text_attr(item, "account")?).ok()?,
        message_id: text_attr(item, "message_id")?.to_owned(),
        group_id: text_attr(item, "group_id")?.to_owned(),
        body: text_attr(item, "body")?.to_owned(),
    })
}

#[async_trait]
impl OutageStore for DynamoStore {
    async fn hub_outage(&self) -> Result<Option<HubOutage>, StoreError> {
        let Some(item) = self.get_item(HUB_PK.to_owned(), OUTAGE_SK).await? else { return Ok(None) };
        let outage = (|| {
            Some(HubOutage {
                since: from_ms(&item, "since")?,
                account: AccountId::parse(text_attr(&item, "account")?).ok()?,
                reason: text_attr(&item, "reason").unwrap_or_default().to_owned(),
                probed_at: from_ms(&item, "probed_at"),
            })
        })();
        outage.map(Some).ok_or_else(|| StoreError::Corrupt("Hub outage item without since or account".into()))
    }

    async fn open_hub_outage(&self, outage: &HubOutage) -> Result<bool, StoreError> {
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(HUB_PK))
            .item("SK", s(OUTAGE_SK))
            .item("since", n(ms(outage.since)))
            .item("account", s(outage.account.as_str()))
            .item("reason", s(outage.reason.chars().take(500).collect::<String>()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        conditional(answer)
    }

    async fn probed(&self, since: OffsetDateTime, at: OffsetDateTime) -> Result<(), StoreError> {
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(HUB_PK))
            .key("SK", s(OUTAGE_SK))
            .update_expression("SET probed_at = :at")
            .condition_expression("since = :since")
            .expression_attribute_values(":at", n(ms(at)))
            .expression_attribute_values(":since", n(ms(since)))
            .send()
            .await;
        // A later outage, or none: nothing to do.
        conditional(answer).map(|_| ())
    }

    async fn close_hub_outage(&self, since: OffsetDateTime) -> Result<(), StoreError> {
        let answer = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(HUB_PK))
            .key("SK", s(OUTAGE_SK))
            .condition_expression("since = :since")
            .expression_attribute_values(":since", n(ms(since)))
            .send()
            .await;
        // A later outage, or none: nothing to do.
        conditional(answer).map(|_| ())
    }

    /// One transaction: the outage item must still exist, and the record is put.
    async fn park(&self, record: &ParkedRecord) -> Result<bool, StoreError> {
        let check = build(
            ConditionCheck::builder()
                .table_name(&self.table)
                .key("PK", s(HUB_PK))
                .key("SK", s(OUTAGE_SK))
                .condition_expression("attribute_exists(PK)")
                .build(),
        )?;
        let expires = record.parked_at + time::Duration::days(PARKED_TTL_DAYS);
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .item("PK", s(PARKED_PK))
                .item("SK", s(parked_sk(record)))
                .item("parked_at", n(ms(record.parked_at)))
                .item("account", s(record.account.as_str()))
                .item("message_id", s(&record.message_id))
                .item("group_id", s(&record.group_id))
                .item("body", s(&record.body))
                .item(TTL_ATTRIBUTE, n(expires.unix_timestamp()))
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items, &[StoreError::Conflict, StoreError::Conflict]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn parked(&self, max: usize) -> Result<Vec<ParkedRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(PARKED_PK))
            .consistent_read(true)
            .limit(i32::try_from(max).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.items.unwrap_or_default().iter().filter_map(parked_of).collect())
    }

    async fn parked_count(&self, account: &AccountId) -> Result<usize, StoreError> {
        Ok(self.query_all(PARKED_PK, &format!("{}#", account.as_str()), true).await?.len())
    }

    async fn unpark(&self, records: &[ParkedRecord]) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(records.len());
        for record in records {
            let delete =
                build(DeleteRequest::builder().key("PK", s(PARKED_PK)).key("SK", s(parked_sk(record))).build())?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests).await
    }
}
