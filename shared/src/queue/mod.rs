//! The work queue port: a FIFO queue where `group_id` keeps the changes of one record in order
//! and `dedup_id` collapses duplicates of one source event. SQS adapter and an in-memory fake.

pub mod dead_letters;
pub mod memory;
pub mod sqs;

use async_trait::async_trait;

/// SQS's limit on a message body.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// One message to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// `MessageGroupId`: `{account}:{entity}:{id}`.
    pub group_id: String,
    /// `MessageDeduplicationId`: a hash of the source event.
    pub dedup_id: String,
    /// The JSON body (a serialised work item).
    pub body: String,
}

/// Queueing failed; the caller must not acknowledge the source event.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQS or the network failed: retry.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The message itself is unacceptable (e.g. too large).
    #[error("message refused: {0}")]
    Refused(String),
}

/// Delays the next delivery of a received message (a record that failed with a known
/// `not_before`, such as a rate limit, is not retried while locked).
#[async_trait]
pub trait RetryDelay: Send + Sync {
    /// Makes the message of `receipt_handle` visible again after `secs` seconds (clamped to SQS's
    /// 0..=43 200).
    async fn delay(&self, receipt_handle: &str, secs: i32) -> Result<(), QueueError>;
}

/// Sends work items.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Sends messages; returns once every one is durably queued.
    async fn send(&self, messages: &[QueueMessage]) -> Result<(), QueueError>;
}
