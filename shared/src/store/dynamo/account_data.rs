//! The expiry of a disconnected account's items: a page of the account's partition is read
//! (sort keys and lifetimes only), and each item is given or relieved of the account's expiry with
//! one conditional `UpdateItem` (see [`crate::store::AccountDataStore`]).

use super::codec::*;
use super::keys::*;
use super::*;
use crate::store::{AccountDataStore, DataPage};
use futures::StreamExt;

/// The attribute marking a `ttl_epoch` as the account's (not the item's own lifetime).
const ACCOUNT_EXPIRY: &str = "account_expiry";
/// Updates of one page sent at once.
const UPDATES_AT_ONCE: usize = 16;

#[async_trait]
impl AccountDataStore for DynamoStore {
    async fn set_data_expiry(
        &self,
        account: &AccountId,
        expires_at: Option<OffsetDateTime>,
        after: Option<String>,
        max: usize,
    ) -> Result<DataPage, StoreError> {
        let pk = account_pk(account);
        let start = after.map(|sk| HashMap::from([("PK".to_owned(), s(&pk)), ("SK".to_owned(), s(sk))]));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(&pk))
            .projection_expression("SK, #ttl, #mark")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#mark", ACCOUNT_EXPIRY)
            .limit(i32::try_from(max.clamp(1, 1000)).unwrap_or(1000))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let items = out.items.unwrap_or_default();
        let next = out.last_evaluated_key.as_ref().and_then(|k| text_attr(k, "SK")).map(str::to_owned);
        // The connection stays; an item with a lifetime of its own keeps it; an item without the
        // account's mark has nothing to lose.
        let wanted: Vec<String> = items
            .iter()
            .filter(|item| text_attr(item, "SK").is_some_and(|sk| sk != CONNECTION_SK))
            .filter(|item| match expires_at {
                Some(_) => !item.contains_key(TTL_ATTRIBUTE) || item.contains_key(ACCOUNT_EXPIRY),
                None => item.contains_key(ACCOUNT_EXPIRY),
            })
            .filter_map(|item| text_attr(item, "SK").map(str::to_owned))
            .collect();
        let results: Vec<Result<bool, StoreError>> = futures::stream::iter(wanted)
            .map(|sk| self.mark_expiry(&pk, sk, expires_at))
            .buffer_unordered(UPDATES_AT_ONCE)
            .collect()
            .await;
        let mut changed = 0;
        for result in results {
            changed += usize::from(result?);
        }
        Ok(DataPage { changed, next })
    }
}

impl DynamoStore {
    /// Sets (or removes) the account's expiry of one item, under the same conditions as the
    /// page's filter (the item may have changed since it was read); `false` when it did not apply.
    async fn mark_expiry(&self, pk: &str, sk: String, expires_at: Option<OffsetDateTime>) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#mark", ACCOUNT_EXPIRY);
        let update = match expires_at {
            Some(at) => update
                .update_expression("SET #ttl = :at, #mark = :at")
                .condition_expression(
                    "attribute_exists(SK) AND (attribute_not_exists(#ttl) OR attribute_exists(#mark))",
                )
                .expression_attribute_values(":at", n(at.unix_timestamp())),
            None => update.update_expression("REMOVE #ttl, #mark").condition_expression("attribute_exists(#mark)"),
        };
        conditional(update.send().await)
    }
}
