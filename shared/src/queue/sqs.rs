//! The SQS FIFO adapter. Besides sending, it offers what the local queue bridge needs to behave
//! like the Lambda event source mapping (receive, delete, change visibility, move to the DLQ).

use super::{QueueError, QueueMessage, WorkQueue, MAX_MESSAGE_BYTES};
use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;

/// A received message.
#[derive(Debug, Clone)]
pub struct Received {
    /// SQS message id.
    pub message_id: String,
    /// Handle to delete or change visibility.
    pub receipt_handle: String,
    /// Body.
    pub body: String,
    /// `MessageGroupId`.
    pub group_id: String,
    /// `MessageDeduplicationId`.
    pub dedup_id: String,
    /// How many times it was received, this time included.
    pub receive_count: u32,
    /// Sent timestamp (ms), as SQS reports it.
    pub sent_timestamp: String,
}

/// One FIFO queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }

    /// The queue at `url`, with a client from the SDK configuration.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), url)
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Receives up to `max` (≤ 10) messages, waiting up to `wait_secs` for the first.
    pub async fn receive(&self, max: i32, wait_secs: i32) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs.clamp(0, 20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs = m.attributes.unwrap_or_default();
                let attr = |name: MessageSystemAttributeName| attrs.get(&name).cloned().unwrap_or_default();
                Received {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    group_id: attr(MessageSystemAttributeName::MessageGroupId),
                    dedup_id: attr(MessageSystemAttributeName::MessageDeduplicationId),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount).parse().unwrap_or(1),
                    sent_timestamp: attr(MessageSystemAttributeName::SentTimestamp),
                }
            })
            .collect())
    }

    /// Approximate number of messages not yet deleted: visible, in flight and delayed (an
    /// operator's "is the queue drained?"; `make measure` waits for 0).
    pub async fn approximate_backlog(&self) -> Result<u64, QueueError> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let names = [
            A::ApproximateNumberOfMessages,
            A::ApproximateNumberOfMessagesNotVisible,
            A::ApproximateNumberOfMessagesDelayed,
        ];
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(names.iter().filter_map(|n| attributes.get(n).and_then(|v| v.parse::<u64>().ok())).sum())
    }

    /// Approximate number of visible messages.
    pub async fn approximate_count(&self) -> Result<u64, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(out
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages).and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }

    /// Deletes a received message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Makes a received message visible again after `secs`.
    pub async fn change_visibility(&self, receipt_handle: &str, secs: i32) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs.clamp(0, 43_200))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl super::RetryDelay for SqsQueue {
    async fn delay(&self, receipt_handle: &str, secs: i32) -> Result<(), QueueError> {
        self.change_visibility(receipt_handle, secs).await
    }
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, messages: &[QueueMessage]) -> Result<(), QueueError> {
        for m in messages {
            if m.body.len() > MAX_MESSAGE_BYTES {
                return Err(QueueError::Refused(format!("message of {} bytes is over the SQS limit", m.body.len())));
            }
        }
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .message_group_id(&m.group_id)
                        .message_deduplication_id(&m.dedup_id)
                        .build()
                        .map_err(|e| QueueError::Refused(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = if entries.len() == 1 {
                let m = &chunk[0];
                self.client
                    .send_message()
                    .queue_url(&self.url)
                    .message_body(&m.body)
                    .message_group_id(&m.group_id)
                    .message_deduplication_id(&m.dedup_id)
                    .send()
                    .await
                    .map(|_| Vec::new())
                    .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))
            } else {
                self.client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map(|o| o.failed)
                    .map_err(|e| QueueError::Unavailable(DisplayErrorContext(e).to_string()))
            };
            let failed = out?;
            if let Some(f) = failed.first() {
                return Err(QueueError::Unavailable(format!("SQS refused entry {}: {}", f.id, f.code)));
            }
        }
        Ok(())
    }
}
