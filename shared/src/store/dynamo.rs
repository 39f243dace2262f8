//! DynamoDB adapter of every store port: one table, tenant in the key (architecture.md § Data).
//!
//! | item | PK | SK |
//! |---|---|---|
//! | connection (JSON in `data`, `version`, `state`; `conn_list` = `CONN` keys the sparse `connections` index) | `ACCT#{account}` | `CONN` |
//! | R1 claim | `BIZ#{business}` | `CLAIM` |
//! | webhook route | `APP#{app}#BIZ#{business}` | `ROUTE` |
//! | pending connect attempt (TTL) | `OAUTH#{account}#{app}` | `PENDING` |
//! | id map | `ACCT#{account}` | `MAP#{entity}#N#{nhanh}` / `MAP#{entity}#H#{hub}` |
//! | cursor | `ACCT#{account}` | `CUR#{stream}` |
//! | idempotency record (TTL) | `EVT#{key}` | `EVT` |
//! | status counters of a stream | `ACCT#{account}` | `STAT#{stream}` |
//! | webhook liveness | `ACCT#{account}` | `STAT#webhooks` (attribute `live`) |
//! | permanent failure (TTL 30 days) | `ACCT#{account}` | `ERR#{unix ms}#{entity}#{record}` |
//! | create intent (TTL 2 days) | `ACCT#{account}` | `INT#{scope}#{key}` |
//! | Nhanh rate-limit lock (`until` in ms, TTL) | `LOCK#{app}#{business}` | `{API path}` |
//!
//! Items with a lifetime carry `ttl_epoch` (the table's TTL attribute); reads also check it, since
//! DynamoDB deletes expired items only eventually.

use super::*;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// Name of the TTL attribute in the table.
pub const TTL_ATTRIBUTE: &str = "ttl_epoch";

type Item = HashMap<String, AttributeValue>;

/// The DynamoDB store.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// Uses `table` through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Uses `table` with a client built from the SDK configuration.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    fn connection_put(&self, conn: &Connection) -> Result<(Put, Connection), StoreError> {
        let mut next = conn.clone();
        next.version += 1;
        let data = serde_json::to_string(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut builder = Put::builder()
            .table_name(&self.table)
            .item("PK", s(account_pk(&conn.account_id)))
            .item("SK", s("CONN"))
            .item("data", s(data))
            .item("state", s(next.state.as_str()))
            .item(CONNECTIONS_INDEX_KEY, s("CONN"))
            .item("version", n(next.version));
        builder = if conn.version == 0 {
            builder.condition_expression("attribute_not_exists(PK)")
        } else {
            builder.condition_expression("version = :v").expression_attribute_values(":v", n(conn.version))
        };
        let put = builder.build().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((put, next))
    }

    /// A transaction, retried a few times when DynamoDB (or the emulator) fails transiently;
    /// condition failures are answered at once.
    async fn transact(&self, items: Vec<TransactWriteItem>, reasons: &[StoreError]) -> Result<(), StoreError> {
        let mut attempt = 0;
        loop {
            match self.transact_once(items.clone(), reasons).await {
                Err(StoreError::Unavailable(e)) if attempt < TRANSACT_ATTEMPTS => {
                    attempt += 1;
                    tracing::debug!(attempt, error = e.as_str(), "transaction retried");
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn transact_once(&self, items: Vec<TransactWriteItem>, reasons: &[StoreError]) -> Result<(), StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                TransactWriteItemsError::TransactionCanceledException(t) => {
                    let failed =
                        t.cancellation_reasons().iter().position(|r| r.code() == Some("ConditionalCheckFailed"));
                    match failed.and_then(|i| reasons.get(i)) {
                        Some(StoreError::BusinessTaken) => Err(StoreError::BusinessTaken),
                        Some(_) => Err(StoreError::Conflict),
                        None => Err(StoreError::Unavailable("transaction cancelled".into())),
                    }
                }
                other => Err(StoreError::Unavailable(DisplayErrorContext(other).to_string())),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Reads several items of one partition with BatchGetItem (≤ 100 keys a call, unprocessed
    /// keys asked again); answers by sort key.
    async fn batch_get(&self, pk: &str, sort_keys: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        let mut unique: Vec<&String> = sort_keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|sk| HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk.as_str()))]))
                .collect();
            let mut request =
                Some(build(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build())?);
            let mut attempt = 0u32;
            while let Some(keys) = request.take() {
                let out =
                    self.client.batch_get_item().request_items(&self.table, keys).send().await.map_err(unavailable)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    if let Some(sk) = text_attr(&item, "SK").map(str::to_owned) {
                        found.insert(sk, item);
                    }
                }
                request = out.unprocessed_keys.unwrap_or_default().remove(&self.table).filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    attempt += 1;
                    backoff(attempt).await?;
                }
            }
        }
        Ok(found)
    }

    /// [`DynamoStore::batch_get`] of the sort keys `{prefix}{key}`; answers by `key`.
    async fn batch_get_under(
        &self,
        pk: &str,
        prefix: &str,
        keys: impl Iterator<Item = String>,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let sort_keys: Vec<String> = keys.map(|k| format!("{prefix}{k}")).collect();
        let items = self.batch_get(pk, &sort_keys).await?;
        Ok(items.into_iter().filter_map(|(sk, item)| Some((sk.strip_prefix(prefix)?.to_owned(), item))).collect())
    }

    /// Writes items with BatchWriteItem (≤ 25 a call, unprocessed items sent again), in the given
    /// order of calls; a later item with the same key as an earlier one replaces it.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let mut unique: Vec<Item> = Vec::with_capacity(items.len());
        let mut seen: HashMap<(Option<String>, Option<String>), usize> = HashMap::new();
        for item in items {
            let key = (text_attr(&item, "PK").map(str::to_owned), text_attr(&item, "SK").map(str::to_owned));
            match seen.get(&key) {
                Some(&at) => unique[at] = item,
                None => {
                    seen.insert(key, unique.len());
                    unique.push(item);
                }
            }
        }
        for chunk in unique.chunks(BATCH_WRITE_MAX) {
            let mut pending: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
            for item in chunk {
                pending.push(
                    WriteRequest::builder()
                        .put_request(build(PutRequest::builder().set_item(Some(item.clone())).build())?)
                        .build(),
                );
            }
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(unavailable)?;
                pending = out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    backoff(attempt).await?;
                }
            }
        }
        Ok(())
    }
}

/// Retries of a transaction that failed transiently (25 ms doubling: about 3 s in all).
const TRANSACT_ATTEMPTS: u32 = 6;
/// Keys per BatchGetItem call (DynamoDB's limit).
const BATCH_GET_MAX: usize = 100;
/// Items per BatchWriteItem call (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;

/// Waits before asking again for what a batch call left unprocessed (throttling); gives up after
/// a few attempts, as retryable.
async fn backoff(attempt: u32) -> Result<(), StoreError> {
    if attempt > 6 {
        return Err(StoreError::Unavailable("batch left items unprocessed".into()));
    }
    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
    Ok(())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

fn account_pk(account: &AccountId) -> String {
    format!("ACCT#{}", account.as_str())
}

fn text_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn alive(item: &Item, now: OffsetDateTime) -> bool {
    item.get(TTL_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_none_or(|ttl| ttl > now.unix_timestamp())
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn get(&self, account: &AccountId) -> Result<Option<Connection>, StoreError> {
        let Some(item) = self.get_item(account_pk(account), "CONN").await? else { return Ok(None) };
        let data = text_attr(&item, "data").ok_or_else(|| StoreError::Corrupt("connection without data".into()))?;
        serde_json::from_str(data).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn put(&self, conn: &Connection) -> Result<Connection, StoreError> {
        let (put, next) = self.connection_put(conn)?;
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(put.item().clone()));
        request = request.set_condition_expression(put.condition_expression().map(str::to_owned));
        request = request.set_expression_attribute_values(put.expression_attribute_values().cloned());
        match request.send().await {
            Ok(_) => Ok(next),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Err(StoreError::Conflict)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn put_claiming(&self, conn: &Connection) -> Result<Connection, StoreError> {
        let business = conn.business_id.ok_or_else(|| StoreError::Corrupt("claim without a business".into()))?;
        let (put, next) = self.connection_put(conn)?;
        let account = s(conn.account_id.as_str());
        let claim = build(
            Put::builder()
                .table_name(&self.table)
                .item("PK", s(format!("BIZ#{business}")))
                .item("SK", s("CLAIM"))
                .item("account_id", account.clone())
                .condition_expression("attribute_not_exists(PK) OR account_id = :a")
                .expression_attribute_values(":a", account.clone())
                .build(),
        )?;
        let route = build(
            Put::builder()
                .table_name(&self.table)
                .item("PK", s(format!("APP#{}#BIZ#{business}", conn.app_id)))
                .item("SK", s("ROUTE"))
                .item("account_id", account.clone())
                .build(),
        )?;
        let app_route = build(
            Put::builder()
                .table_name(&self.table)
                .item("PK", s(format!("APP#{}", conn.app_id)))
                .item("SK", s(format!("ACCT#{}", conn.account_id.as_str())))
                .item("account_id", account)
                .build(),
        )?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().put(claim).build(),
            TransactWriteItem::builder().put(route).build(),
            TransactWriteItem::builder().put(app_route).build(),
        ];
        self.transact(items, &[StoreError::Conflict, StoreError::BusinessTaken]).await?;
        Ok(next)
    }

    async fn put_releasing(&self, conn: &Connection, business: BusinessId) -> Result<Connection, StoreError> {
        let (put, next) = self.connection_put(conn)?;
        let release = build(
            Delete::builder()
                .table_name(&self.table)
                .key("PK", s(format!("BIZ#{business}")))
                .key("SK", s("CLAIM"))
                .condition_expression("attribute_not_exists(PK) OR account_id = :a")
                .expression_attribute_values(":a", s(conn.account_id.as_str()))
                .build(),
        )?;
        let items =
            vec![TransactWriteItem::builder().put(put).build(), TransactWriteItem::builder().delete(release).build()];
        self.transact(items, &[StoreError::Conflict, StoreError::Conflict]).await?;
        Ok(next)
    }

    async fn account_for(&self, app: AppId, business: BusinessId) -> Result<Option<AccountId>, StoreError> {
        let item = self.get_item(format!("APP#{app}#BIZ#{business}"), "ROUTE").await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "account_id")).and_then(|a| AccountId::parse(a).ok()))
    }

    async fn accounts_of_app(&self, app: AppId) -> Result<Vec<AccountId>, StoreError> {
        let answer = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :acct)")
            .expression_attribute_values(":pk", s(format!("APP#{app}")))
            .expression_attribute_values(":acct", s("ACCT#"))
            .limit(100)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(answer
            .items()
            .iter()
            .filter_map(|i| text_attr(i, "account_id"))
            .filter_map(|a| AccountId::parse(a).ok())
            .collect())
    }

    /// A Query of the sparse `connections` index (only connection items carry its key), so the
    /// cost follows the number of accounts, not the size of the table. The cursor is the last
    /// account's `PK`: index items are one per account, and their table `SK` is always `CONN`.
    async fn connected_accounts(&self, cursor: Option<String>) -> Result<(Vec<AccountId>, Option<String>), StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CONNECTIONS_INDEX)
            .key_condition_expression("#list = :conn")
            .filter_expression("#st IN (:s1, :s2, :s3)")
            .expression_attribute_names("#list", CONNECTIONS_INDEX_KEY)
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":conn", s("CONN"))
            .expression_attribute_values(":s1", s("syncing"))
            .expression_attribute_values(":s2", s("active"))
            .expression_attribute_values(":s3", s("needs_reauth"))
            .limit(500);
        if let Some(pk) = cursor {
            request = request
                .exclusive_start_key(CONNECTIONS_INDEX_KEY, s("CONN"))
                .exclusive_start_key("PK", s(pk))
                .exclusive_start_key("SK", s("CONN"));
        }
        let out = request.send().await.map_err(unavailable)?;
        let accounts = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| text_attr(i, "PK"))
            .filter_map(|pk| pk.strip_prefix("ACCT#"))
            .filter_map(|a| AccountId::parse(a).ok())
            .collect();
        let next = out.last_evaluated_key.as_ref().and_then(|k| text_attr(k, "PK")).map(str::to_owned);
        Ok((accounts, next))
    }
}

/// The sparse index listing connection items (template.yaml).
const CONNECTIONS_INDEX: &str = "connections";
/// Its partition key, present on connection items only.
const CONNECTIONS_INDEX_KEY: &str = "conn_list";

fn pending_pk(account: &AccountId, app: AppId) -> String {
    format!("OAUTH#{}#{app}", account.as_str())
}

#[async_trait]
impl PendingStore for DynamoStore {
    async fn put_pending(&self, attempt: &PendingAttempt) -> Result<(), StoreError> {
        let data = serde_json::to_string(attempt).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(pending_pk(&attempt.account_id, attempt.app_id)))
            .item("SK", s("PENDING"))
            .item("data", s(data))
            .item(TTL_ATTRIBUTE, n(attempt.expires_at.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_pending(
        &self,
        account: &AccountId,
        app: AppId,
        now: OffsetDateTime,
    ) -> Result<Option<PendingAttempt>, StoreError> {
        let Some(item) = self.get_item(pending_pk(account, app), "PENDING").await? else { return Ok(None) };
        if !alive(&item, now) {
            return Ok(None);
        }
        let data = text_attr(&item, "data").ok_or_else(|| StoreError::Corrupt("pending without data".into()))?;
        let attempt: PendingAttempt = serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((attempt.expires_at > now).then_some(attempt))
    }

    async fn delete_pending(&self, account: &AccountId, app: AppId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(pending_pk(account, app)))
            .key("SK", s("PENDING"))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl IdMapStore for DynamoStore {
    async fn hub_id(&self, account: &AccountId, entity: Entity, nhanh_key: &str) -> Result<Option<HubId>, StoreError> {
        let item = self.get_item(account_pk(account), &format!("MAP#{}#N#{nhanh_key}", entity.as_str())).await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "target")).and_then(|h| HubId::parse(h).ok()))
    }

    async fn nhanh_key(&self, account: &AccountId, entity: Entity, hub: &HubId) -> Result<Option<String>, StoreError> {
        let item = self.get_item(account_pk(account), &format!("MAP#{}#H#{}", entity.as_str(), hub.as_str())).await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "target")).map(str::to_owned))
    }

    /// Two ordered puts instead of a transaction: the Hub → Nhanh entry first, then the
    /// Nhanh → Hub entry that readers check, so a reader never sees half a pair (a crash between
    /// leaves only an unused reverse entry, overwritten by the retry). Half the write cost of a
    /// transaction, and no whole-table copy in the local emulator.
    async fn link(&self, account: &AccountId, entity: Entity, nhanh_key: &str, hub: &HubId) -> Result<(), StoreError> {
        let pk = account_pk(account);
        for (sk, target) in [
            (format!("MAP#{}#H#{}", entity.as_str(), hub.as_str()), nhanh_key),
            (format!("MAP#{}#N#{nhanh_key}", entity.as_str()), hub.as_str()),
        ] {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("PK", s(pk.clone()))
                .item("SK", s(sk))
                .item("target", s(target))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn hub_ids(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_keys: &[String],
    ) -> Result<HashMap<String, HubId>, StoreError> {
        let prefix = format!("MAP#{}#N#", entity.as_str());
        let items = self.batch_get_under(&account_pk(account), &prefix, nhanh_keys.iter().cloned()).await?;
        Ok(items
            .into_iter()
            .filter_map(|(key, item)| Some((key, text_attr(&item, "target").and_then(|h| HubId::parse(h).ok())?)))
            .collect())
    }

    async fn nhanh_keys(
        &self,
        account: &AccountId,
        entity: Entity,
        hubs: &[HubId],
    ) -> Result<HashMap<HubId, String>, StoreError> {
        let prefix = format!("MAP#{}#H#", entity.as_str());
        let items =
            self.batch_get_under(&account_pk(account), &prefix, hubs.iter().map(|h| h.as_str().to_owned())).await?;
        Ok(items
            .into_iter()
            .filter_map(|(hub, item)| Some((HubId::parse(&hub).ok()?, text_attr(&item, "target")?.to_owned())))
            .collect())
    }

    /// Two batch writes in order: all Hub → Nhanh entries, then all Nhanh → Hub entries.
    async fn link_all(&self, account: &AccountId, entity: Entity, pairs: &[(String, HubId)]) -> Result<(), StoreError> {
        let pk = account_pk(account);
        let entry = |sk: String, target: &str| {
            HashMap::from([
                ("PK".to_owned(), s(pk.as_str())),
                ("SK".to_owned(), s(sk)),
                ("target".to_owned(), s(target)),
            ])
        };
        let reverse =
            pairs.iter().map(|(key, hub)| entry(format!("MAP#{}#H#{}", entity.as_str(), hub.as_str()), key)).collect();
        self.batch_put(reverse).await?;
        let forward =
            pairs.iter().map(|(key, hub)| entry(format!("MAP#{}#N#{key}", entity.as_str()), hub.as_str())).collect();
        self.batch_put(forward).await
    }
}

#[async_trait]
impl CursorStore for DynamoStore {
    async fn cursor(&self, account: &AccountId, stream: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let item = self.get_item(account_pk(account), &format!("CUR#{stream}")).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok()))
    }

    async fn set_cursor(&self, account: &AccountId, stream: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(format!("CUR#{stream}")))
            .item("at", n(at.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn first_time(&self, key: &str, ttl: time::Duration, now: OffsetDateTime) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(format!("EVT#{key}")))
            .item("SK", s("EVT"))
            .item(TTL_ATTRIBUTE, n((now + ttl).unix_timestamp()))
            .condition_expression("attribute_not_exists(PK) OR #t <= :now")
            .expression_attribute_names("#t", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }
}

fn epoch(item: &Item, name: &str) -> Option<OffsetDateTime> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
}

fn members_of(item: &Item) -> u64 {
    item.get("members").and_then(|v| v.as_ns().ok()).map_or(0, |m| m.len() as u64)
}

fn count_of(item: &Item, name: &str) -> u64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[async_trait]
impl StatsStore for DynamoStore {
    async fn add(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        amount: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (expression, stamp) = match counter {
            Counter::Applied => ("ADD applied :n SET last_applied_at = :at", true),
            Counter::Failed => ("ADD failed :n", false),
            Counter::Dropped => ("ADD dropped :n SET last_event_at = :at", true),
            Counter::Ignored => ("ADD ignored :n SET last_event_at = :at", true),
            Counter::Received => ("SET last_event_at = :at", true),
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(format!("STAT#{stream}")))
            .update_expression(expression);
        if counter != Counter::Received {
            request = request.expression_attribute_values(":n", n(amount));
        }
        if stamp {
            request = request.expression_attribute_values(":at", n(at.unix_timestamp()));
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn advance(
        &self,
        account: &AccountId,
        stream: Stream,
        member: u64,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(format!("STAT#{stream}")))
            .update_expression("ADD members :m SET last_applied_at = :at")
            .expression_attribute_values(":m", AttributeValue::Ns(vec![member.to_string()]))
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.as_ref().map(members_of).unwrap_or(0))
    }

    async fn reset(&self, account: &AccountId, stream: Stream) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(format!("STAT#{stream}")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn set_webhooks_live(&self, account: &AccountId, at: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s("STAT#webhooks"))
            .update_expression("SET live = :t, enabled_at = :at")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn stats(&self, account: &AccountId) -> Result<Stats, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account)))
            .expression_attribute_values(":prefix", s("STAT#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?
            .items
            .unwrap_or_default();
        let mut stats = Stats::default();
        for item in &items {
            let Some(stream) = text_attr(item, "SK").and_then(|sk| sk.strip_prefix("STAT#")) else { continue };
            if stream == "webhooks" {
                stats.webhooks_live = item.get("live").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false);
                continue;
            }
            stats.streams.insert(
                stream.to_owned(),
                crate::domain::StreamCounters {
                    applied: count_of(item, "applied").max(members_of(item)),
                    dropped: count_of(item, "dropped"),
                    failed: count_of(item, "failed"),
                    ignored: count_of(item, "ignored"),
                    last_applied_at: epoch(item, "last_applied_at"),
                    last_event_at: epoch(item, "last_event_at"),
                },
            );
        }
        Ok(stats)
    }
}

/// How long failures stay on the error log.
const FAILURE_TTL_DAYS: i64 = 30;
/// How long create intents are kept (the Hub remembers an Idempotency-Key for 24 h).
const INTENT_TTL_DAYS: i64 = 2;

#[async_trait]
impl FailureLog for DynamoStore {
    async fn record_failure(&self, account: &AccountId, failure: &FailureRecord) -> Result<(), StoreError> {
        let data = serde_json::to_string(failure).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let millis = failure.at.unix_timestamp_nanos() / 1_000_000;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(format!("ERR#{millis:015}#{}#{}", failure.entity, failure.record)))
            .item("data", s(data))
            .item(TTL_ATTRIBUTE, n((failure.at + time::Duration::days(FAILURE_TTL_DAYS)).unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn recent_failures(&self, account: &AccountId, limit: usize) -> Result<Vec<FailureRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(account_pk(account)))
            .expression_attribute_values(":prefix", s("ERR#"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| text_attr(i, "data"))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect())
    }
}

#[async_trait]
impl IntentStore for DynamoStore {
    async fn intent(&self, account: &AccountId, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let item = self.get_item(account_pk(account), &format!("INT#{scope}#{key}")).await?;
        Ok(item.as_ref().and_then(|i| text_attr(i, "body")).map(str::to_owned))
    }

    async fn set_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(format!("INT#{scope}#{key}")))
            .item("body", s(body))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn intents(
        &self,
        account: &AccountId,
        scope: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let items = self.batch_get_under(&account_pk(account), &format!("INT#{scope}#"), keys.iter().cloned()).await?;
        Ok(items.into_iter().filter_map(|(key, item)| Some((key, text_attr(&item, "body")?.to_owned()))).collect())
    }

    async fn set_intents(
        &self,
        account: &AccountId,
        scope: &str,
        entries: &[(String, String)],
    ) -> Result<(), StoreError> {
        let pk = account_pk(account);
        let items = entries
            .iter()
            .map(|(key, body)| {
                HashMap::from([
                    ("PK".to_owned(), s(pk.as_str())),
                    ("SK".to_owned(), s(format!("INT#{scope}#{key}"))),
                    ("body".to_owned(), s(body.as_str())),
                ])
            })
            .collect();
        self.batch_put(items).await
    }

    async fn put_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<String, StoreError> {
        let expires = OffsetDateTime::now_utc() + time::Duration::days(INTENT_TTL_DAYS);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(format!("INT#{scope}#{key}")))
            .item("body", s(body))
            .item(TTL_ATTRIBUTE, n(expires.unix_timestamp()))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(body.to_owned()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    self.intent(account, scope, key).await?.ok_or(StoreError::Conflict)
                } else {
                    Err(unavailable(e))
                }
            }
        }
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
        let Some(item) = self.get_item(format!("LOCK#{app}#{business}"), path).await? else { return Ok(None) };
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
            .key("PK", s(format!("LOCK#{app}#{business}")))
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
