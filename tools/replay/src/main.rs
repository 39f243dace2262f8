//! `replay-dead-letters`: moves every message of the dead-letter queue back into the work queue,
//! keeping its body and message group (a fresh deduplication id, so SQS does not drop it as a
//! repeat), and deletes it from the DLQ once it is queued again.
//!
//! Env: `QUEUE_URL`, `DLQ_URL`, and the usual AWS variables (`AWS_ENDPOINT_URL` locally).
//! Usage: `cargo run -p replay-dead-letters` (or `make replay`); prints how many it moved.

use shared::queue::sqs::SqsQueue;
use shared::queue::{QueueMessage, WorkQueue};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::install_crypto_provider();
    let queue_url = std::env::var("QUEUE_URL").map_err(|_| "QUEUE_URL is required")?;
    let dlq_url = std::env::var("DLQ_URL").map_err(|_| "DLQ_URL is required")?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let sdk = shared::lambda::aws_sdk_config_for(endpoint.as_deref()).await;
    let queue = SqsQueue::from_sdk_config(&sdk, queue_url);
    let dlq = SqsQueue::from_sdk_config(&sdk, dlq_url);
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut moved = 0usize;
    loop {
        let batch = dlq.receive(10, 1).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let message = QueueMessage {
                group_id: m.group_id.clone(),
                dedup_id: format!("{}-replay-{stamp}", m.dedup_id.chars().take(80).collect::<String>()),
                body: m.body.clone(),
            };
            queue.send(std::slice::from_ref(&message)).await?;
            dlq.delete(&m.receipt_handle).await?;
            moved += 1;
        }
    }
    println!("replayed {moved} dead letter(s)");
    Ok(())
}
