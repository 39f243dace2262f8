//! Dead letters: one item per record given up, under its account (kept 30 days).

use super::codec::*;
use super::keys::*;
use super::*;
use crate::store::{DeadLetterStore, StoredDeadLetter};

/// How long a dead letter is kept when nobody presses **Thử lại**.
const DEAD_LETTER_TTL_DAYS: i64 = 30;
/// The most dead letters of one account read for a listing (the newest `max` are shown).
const MAX_READ: usize = 200;

#[async_trait]
impl DeadLetterStore for DynamoStore {
    async fn put_dead_letter(&self, account: &AccountId, letter: &StoredDeadLetter) -> Result<(), StoreError> {
        let data = serde_json::to_string(letter).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expires = letter.last_failed_at + time::Duration::days(DEAD_LETTER_TTL_DAYS);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(account_pk(account)))
            .item("SK", s(format!("{DEAD_LETTER_PREFIX}{}", letter.id)))
            .item("data", s(data))
            .item(TTL_ATTRIBUTE, n(expires.unix_timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn dead_letters(&self, account: &AccountId, max: usize) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let mut letters: Vec<StoredDeadLetter> =
            self.account_documents(account, DEAD_LETTER_PREFIX, false, MAX_READ).await?;
        letters.sort_by_key(|l| std::cmp::Reverse(l.last_failed_at));
        letters.truncate(max);
        Ok(letters)
    }

    /// One `DeleteItem` returning the old item: two presses of **Thử lại** queue it once.
    async fn take_dead_letter(&self, account: &AccountId, id: &str) -> Result<Option<StoredDeadLetter>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("PK", s(account_pk(account)))
            .key("SK", s(format!("{DEAD_LETTER_PREFIX}{id}")))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.attributes else { return Ok(None) };
        let data = text_attr(&item, "data").ok_or_else(|| StoreError::Corrupt("dead letter without data".into()))?;
        serde_json::from_str(data).map(Some).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}
