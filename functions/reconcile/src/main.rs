//! Lambda `reconcile`: each EventBridge Scheduler tick (any payload) queues the scheduled pass of
//! every connected account; the processor carries the passes out.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::queue::sqs::SqsQueue;
use shared::services::reconcile::Scheduler;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let shared::lambda::Bootstrap { config, sdk, clock, store, .. } = shared::lambda::bootstrap().await?;
    let queue_url = config.require_queue_url()?.to_owned();
    let scheduler =
        Scheduler { connections: store, queue: Arc::new(SqsQueue::from_sdk_config(&sdk, queue_url)), clock };
    let scheduler = &scheduler;
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let queued = scheduler.tick().await?;
        Ok::<Value, Error>(json!({"queued": queued}))
    }))
    .await
}
