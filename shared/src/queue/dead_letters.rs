//! The dead letters of one account, as the merchant's page lists them, and **Thử lại** on one:
//! records the processor gave up on, read from the table (issue 23) and queued again from there.
//! The SQS dead-letter queue keeps only bodies that do not decode; `replay-dead-letters` moves
//! those back.

use super::{QueueError, QueueMessage, WorkQueue};
use crate::domain::AccountId;
use crate::store::{DeadLetterStore, StoreError};
use async_trait::async_trait;
use std::sync::Arc;
use time::OffsetDateTime;

/// A record given up after its retries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// Its id (the SQS message id it last had): what **Thử lại** names.
    pub message_id: String,
    /// The work item's kind (`nhanh_change`, `hub_event`, …).
    pub kind: String,
    /// Its message group (`{account}:{entity}:{id}`): which record it is about.
    pub group_id: String,
    /// How many times it was delivered.
    pub receive_count: u32,
    /// Why its last delivery failed.
    pub reason: String,
    /// What kind of failure that was.
    pub failure: crate::domain::FailureKind,
    /// Its first delivery.
    #[serde(with = "time::serde::rfc3339")]
    pub first_failed_at: OffsetDateTime,
    /// When it was given up.
    #[serde(with = "time::serde::rfc3339")]
    pub last_failed_at: OffsetDateTime,
}

/// The dead letters of one account.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `max` dead letters of `account`, the newest first.
    async fn of_account(&self, account: &AccountId, max: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Moves the dead letter `message_id` of `account` back to the work queue; `false` when it is
    /// not (or no longer) there.
    async fn requeue(&self, account: &AccountId, message_id: &str) -> Result<bool, QueueError>;
}

/// Dead letters kept in the table, queued again to the work queue.
pub struct TableDeadLetters {
    /// Where the processor keeps them.
    pub store: Arc<dyn DeadLetterStore>,
    /// The work queue.
    pub work: Arc<dyn WorkQueue>,
}

fn unavailable(e: StoreError) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

#[async_trait]
impl DeadLetters for TableDeadLetters {
    async fn of_account(&self, account: &AccountId, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let letters = self.store.dead_letters(account, max).await.map_err(unavailable)?;
        Ok(letters
            .into_iter()
            .map(|l| DeadLetter {
                message_id: l.id,
                kind: l.kind,
                group_id: l.group_id,
                receive_count: l.deliveries,
                reason: l.reason,
                failure: l.failure,
                first_failed_at: l.first_failed_at,
                last_failed_at: l.last_failed_at,
            })
            .collect())
    }

    /// Takes the item first (so two presses queue it once), then queues its body in its group with a
    /// fresh deduplication id; if the queue refuses, the item is put back.
    async fn requeue(&self, account: &AccountId, message_id: &str) -> Result<bool, QueueError> {
        let Some(letter) = self.store.take_dead_letter(account, message_id).await.map_err(unavailable)? else {
            return Ok(false);
        };
        let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let message = QueueMessage {
            group_id: letter.group_id.clone(),
            dedup_id: format!("{}-retry-{stamp}", letter.id.chars().take(80).collect::<String>()),
            body: letter.body.clone(),
        };
        if let Err(e) = self.work.send(std::slice::from_ref(&message)).await {
            if let Err(put_back) = self.store.put_dead_letter(account, &letter).await {
                tracing::error!(account_id = account.as_str(), error = %put_back, "a dead letter taken for Thử lại was lost");
            }
            return Err(e);
        }
        Ok(true)
    }
}
