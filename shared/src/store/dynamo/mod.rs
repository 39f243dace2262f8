//! DynamoDB adapter of every store port: one table, the tenant in the key. The key formats are
//! in [`keys`], the attribute codecs in [`codec`], one adapter per group of ports in the other
//! modules.
//!
//! Items with a lifetime carry `ttl_epoch` (the table's TTL attribute); reads also check it, since
//! DynamoDB deletes expired items only eventually.

mod account_data;
mod codec;
mod connections;
mod dead_letters;
mod erasure;
mod fleet;
mod keys;
mod order_backlog;
mod outage;
mod rate_lock;
mod records;
mod stats;
#[cfg(test)]
mod tests;

pub use codec::TTL_ATTRIBUTE;

use super::*;
use crate::retry::{retry, Backoff};
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use codec::{n, s, text_attr, Item};
use futures::{StreamExt, TryStreamExt};
use keys::*;
use std::collections::HashMap;

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

    /// The `data` documents of an account's items whose sort key starts with `prefix`, in sort
    /// key order (newest first when `newest_first` and the key sorts by time), at most `limit`.
    async fn account_documents<T: serde::de::DeserializeOwned>(
        &self,
        account: &AccountId,
        prefix: &str,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::account_pk(account)))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(!newest_first)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| codec::text_attr(i, "data"))
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect())
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
            .item("SK", s(CONNECTION_SK))
            .item("data", s(data))
            .item("state", s(next.state.as_str()))
            .item(CONNECTIONS_INDEX_KEY, s(CONNECTION_SK))
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
        let transient = |e: &StoreError| matches!(e, StoreError::Unavailable(_));
        retry(backoff(), transient, || self.transact_once(items.clone(), reasons)).await
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

    /// Every item of partition `pk` whose sort key starts with `prefix` (strongly consistent,
    /// every page; `count_only` reads none and answers how many, as empty items).
    async fn query_all(&self, pk: &str, prefix: &str, count_only: bool) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            if count_only {
                query = query.select(aws_sdk_dynamodb::types::Select::Count);
            }
            let out = query.send().await.map_err(unavailable)?;
            match out.items {
                Some(found) if !count_only => items.extend(found),
                _ => items.extend((0..out.count.max(0)).map(|_| Item::new())),
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Reads several items of one partition with BatchGetItem (≤ 100 keys a call, unprocessed
    /// keys asked again); answers by sort key.
    async fn batch_get(&self, pk: &str, sort_keys: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let keys: Vec<(String, String)> = sort_keys.iter().map(|sk| (pk.to_owned(), sk.clone())).collect();
        let found = self.batch_get_keys(&keys).await?;
        Ok(found.into_iter().map(|((_, sk), item)| (sk, item)).collect())
    }

    /// Reads items of any partitions with BatchGetItem (≤ 100 keys a call, unprocessed keys asked
    /// again, consistent reads); answers by (PK, SK).
    async fn batch_get_keys(&self, keys: &[(String, String)]) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::new();
        let mut unique: Vec<&(String, String)> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|(pk, sk)| HashMap::from([("PK".to_owned(), s(pk.as_str())), ("SK".to_owned(), s(sk.as_str()))]))
                .collect();
            let mut request =
                Some(build(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build())?);
            let mut waits = backoff();
            while let Some(keys) = request.take() {
                let out =
                    self.client.batch_get_item().request_items(&self.table, keys).send().await.map_err(unavailable)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    if let (Some(pk), Some(sk)) = (text_attr(&item, "PK"), text_attr(&item, "SK")) {
                        found.insert((pk.to_owned(), sk.to_owned()), item);
                    }
                }
                request = out.unprocessed_keys.unwrap_or_default().remove(&self.table).filter(|k| !k.keys().is_empty());
                if request.is_some() && !waits.wait().await {
                    return Err(StoreError::Unavailable("batch left keys unprocessed".into()));
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

    /// Writes items with BatchWriteItem (≤ 25 a call, unprocessed items sent again); a later item
    /// with the same key as an earlier one replaces it (each key is written once, so the calls,
    /// sent side by side, never race on a key).
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
        let mut requests = Vec::with_capacity(unique.len());
        for item in unique {
            requests.push(
                WriteRequest::builder().put_request(build(PutRequest::builder().set_item(Some(item)).build())?).build(),
            );
        }
        self.batch_write(requests).await
    }

    /// Sends write requests with BatchWriteItem (≤ 25 a call, [`BATCH_WRITES_AT_ONCE`] calls at
    /// once, unprocessed ones sent again, a few times with backoff).
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let chunks: Vec<Vec<WriteRequest>> = requests.chunks(BATCH_WRITE_MAX).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.batch_write_chunk(chunk))
            .buffer_unordered(BATCH_WRITES_AT_ONCE)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// One BatchWriteItem of at most 25 requests, with what it left unprocessed sent again.
    async fn batch_write_chunk(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut waits = backoff();
        while !pending.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(unavailable)?;
            pending = out.unprocessed_items.unwrap_or_default().remove(&self.table).unwrap_or_default();
            if !pending.is_empty() && !waits.wait().await {
                return Err(StoreError::Unavailable("batch left items unprocessed".into()));
            }
        }
        Ok(())
    }
}

/// Keys per BatchGetItem call (DynamoDB's limit).
const BATCH_GET_MAX: usize = 100;
/// Items per BatchWriteItem call (DynamoDB's limit).
const BATCH_WRITE_MAX: usize = 25;
/// BatchWriteItem calls of one batch write sent at once (issue 23: an initial sync page's 100
/// links and 100 snapshots were 8 calls one after another between two pages' Hub writes).
const BATCH_WRITES_AT_ONCE: usize = 4;

/// The waits before a transaction cancelled transiently, or what a batch call left unprocessed
/// (throttling), is asked again: six, from 25 ms doubling, with jitter (at most about 3 s).
fn backoff() -> Backoff {
    Backoff::new(std::time::Duration::from_millis(25), 6)
}

/// The answer of a conditional write: `Ok(false)` when its condition failed, other errors as
/// [`StoreError::Unavailable`].
fn conditional<T, E, R>(answer: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match answer {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

fn unavailable<E: std::error::Error + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}
