//! The dead-letter queue seen per account: what the merchant's page lists, and **Thử lại** on one
//! of them (moved back to the work queue, as `replay-dead-letters` does for all).

use super::sqs::{Received, SqsQueue};
use super::{QueueError, QueueMessage, WorkQueue};
use crate::domain::{AccountId, WorkItem};
use async_trait::async_trait;
use std::sync::Mutex;

/// A record that kept failing and sits in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    /// The SQS message id (what **Thử lại** names).
    pub message_id: String,
    /// The work item's kind (`nhanh_change`, `hub_event`, …).
    pub kind: String,
    /// Its message group (`{account}:{entity}:{id}`): which record it is about.
    pub group_id: String,
    /// How many times it was delivered.
    pub receive_count: u32,
}

/// The dead letters of one account.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Up to `max` dead letters of `account`, read without taking them.
    async fn of_account(&self, account: &AccountId, max: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Moves the dead letter `message_id` of `account` back to the work queue; `false` when it is
    /// not (or no longer) there.
    async fn requeue(&self, account: &AccountId, message_id: &str) -> Result<bool, QueueError>;
}

/// How many receive rounds a listing or a search makes (10 messages each).
const ROUNDS: usize = 5;

fn belongs_to(m: &Received, account: &AccountId) -> Option<WorkItem> {
    serde_json::from_str::<WorkItem>(&m.body).ok().filter(|item| item.account_id() == account)
}

/// The SQS dead-letter queue beside the work queue.
pub struct SqsDeadLetters {
    /// The dead-letter queue.
    pub dlq: SqsQueue,
    /// The work queue it came from.
    pub work: SqsQueue,
}

impl SqsDeadLetters {
    /// Receives up to `ROUNDS` batches; every message is made visible again unless `take` keeps it.
    async fn scan(&self, mut take: impl FnMut(&Received) -> bool) -> Result<Vec<Received>, QueueError> {
        let mut kept = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..ROUNDS {
            let batch = self.dlq.receive(10, 0).await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let new = seen.insert(m.message_id.clone());
                if new && take(&m) {
                    kept.push(m);
                } else {
                    // Released at once: a listing takes nothing.
                    self.dlq.change_visibility(&m.receipt_handle, 0).await?;
                }
            }
        }
        Ok(kept)
    }
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn of_account(&self, account: &AccountId, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let mut found = Vec::new();
        self.scan(|m| {
            if found.len() < max {
                if let Some(item) = belongs_to(m, account) {
                    found.push(DeadLetter {
                        message_id: m.message_id.clone(),
                        kind: item.kind().to_owned(),
                        group_id: m.group_id.clone(),
                        receive_count: m.receive_count,
                    });
                }
            }
            false
        })
        .await?;
        Ok(found)
    }

    async fn requeue(&self, account: &AccountId, message_id: &str) -> Result<bool, QueueError> {
        let taken = self.scan(|m| m.message_id == message_id && belongs_to(m, account).is_some()).await?;
        let Some(m) = taken.into_iter().next() else { return Ok(false) };
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let message = QueueMessage {
            group_id: m.group_id.clone(),
            dedup_id: format!("{}-retry-{stamp}", m.dedup_id.chars().take(80).collect::<String>()),
            body: m.body.clone(),
        };
        self.work.send(std::slice::from_ref(&message)).await?;
        self.dlq.delete(&m.receipt_handle).await?;
        Ok(true)
    }
}

/// In-memory dead letters for tests: `letters` are (message id, group id, body); a requeued one
/// moves to `requeued`.
#[derive(Default)]
pub struct MemoryDeadLetters {
    /// The dead letters.
    pub letters: Mutex<Vec<(String, String, String)>>,
    /// What was moved back, by message id.
    pub requeued: Mutex<Vec<String>>,
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn of_account(&self, account: &AccountId, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let letters = self.letters.lock().map_err(|_| QueueError::Unavailable("poisoned".into()))?;
        Ok(letters
            .iter()
            .filter_map(|(id, group, body)| {
                let item = serde_json::from_str::<WorkItem>(body).ok().filter(|i| i.account_id() == account)?;
                Some(DeadLetter {
                    message_id: id.clone(),
                    kind: item.kind().to_owned(),
                    group_id: group.clone(),
                    receive_count: 5,
                })
            })
            .take(max)
            .collect())
    }

    async fn requeue(&self, account: &AccountId, message_id: &str) -> Result<bool, QueueError> {
        let mine = self.of_account(account, usize::MAX).await?.iter().any(|d| d.message_id == message_id);
        let mut letters = self.letters.lock().map_err(|_| QueueError::Unavailable("poisoned".into()))?;
        if !mine {
            return Ok(false);
        }
        letters.retain(|(id, _, _)| id != message_id);
        self.requeued.lock().map_err(|_| QueueError::Unavailable("poisoned".into()))?.push(message_id.to_owned());
        Ok(true)
    }
}
