//! Records the processor gave up on, kept per account in the table (issue 23): what the page lists
//! and **Thử lại** queues again, instead of a receive of the shared SQS dead-letter queue (which hid
//! other tenants' messages and missed an account's once others had 50).

use super::StoreError;
use crate::domain::AccountId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A record given up: its queue message (to queue again) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDeadLetter {
    /// The SQS message id it last had (what **Thử lại** names).
    pub id: String,
    /// Its message group (`{account}:{entity}:{id}`).
    pub group_id: String,
    /// The work item's kind (`nhanh_change`, `hub_event`, …).
    pub kind: String,
    /// The work item, as queued.
    pub body: String,
    /// Why its last delivery failed.
    pub reason: String,
    /// What kind of failure that was (absent in letters kept before kinds existed: `other`).
    #[serde(default)]
    pub failure: crate::domain::FailureKind,
    /// Deliveries spent.
    pub deliveries: u32,
    /// Its first delivery.
    #[serde(with = "time::serde::rfc3339")]
    pub first_failed_at: OffsetDateTime,
    /// When it was given up.
    #[serde(with = "time::serde::rfc3339")]
    pub last_failed_at: OffsetDateTime,
}

/// The dead letters of each account.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Keeps a dead letter of `account` (a later one of the same id replaces it).
    async fn put_dead_letter(&self, account: &AccountId, letter: &StoredDeadLetter) -> Result<(), StoreError>;
    /// Up to `max` dead letters of `account`, the newest first.
    async fn dead_letters(&self, account: &AccountId, max: usize) -> Result<Vec<StoredDeadLetter>, StoreError>;
    /// Removes the dead letter `id` of `account` and returns it (`None`: not, or no longer, there).
    async fn take_dead_letter(&self, account: &AccountId, id: &str) -> Result<Option<StoredDeadLetter>, StoreError>;
}
