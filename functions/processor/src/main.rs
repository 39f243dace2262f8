//! Lambda `processor`: the SQS event source mapping (FIFO, `ReportBatchItemFailures`) hands it
//! batches; each record is applied through `shared::services::process`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::queue::sqs::SqsQueue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut boot = shared::lambda::bootstrap("processor").await?;
    boot.read_secrets(&[shared::lambda::ConfigSecret::HubServiceToken]).await?;
    let processor = boot.processor()?;
    let queue = Some(SqsQueue::from_sdk_config(&boot.sdk, boot.config.require_queue_url()?.to_owned()));
    // Bodies that do not decode go to the dead-letter queue at once (issue 23).
    let dlq = boot.config.dlq_url.clone().map(|url| SqsQueue::from_sdk_config(&boot.sdk, url));
    let (processor, queue) = (&processor, queue.as_ref().map(|q| q as &dyn shared::queue::RetryDelay));
    let dlq = dlq.as_ref().map(|q| q as &dyn shared::queue::WorkQueue);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = Some(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(
            shared::lambda::process_sqs_batch(processor, queue, dlq, event.payload, deadline).await,
        )
    }))
    .await
}
