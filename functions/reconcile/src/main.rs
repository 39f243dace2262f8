//! Lambda `reconcile`: each EventBridge Scheduler tick (every minute) queues the scheduled pass of
//! the connected accounts whose slot is due (`PASS_INTERVAL_MINUTES`); a payload with
//! `"all": true` queues every account. The processor carries the passes out.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::queue::sqs::SqsQueue;
use shared::services::reconcile::Scheduler;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let shared::lambda::Bootstrap { config, sdk, clock, store, .. } = shared::lambda::bootstrap("reconcile").await?;
    let queue_url = config.require_queue_url()?.to_owned();
    let scheduler = Scheduler {
        connections: store.clone(),
        outages: store,
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, queue_url)),
        clock,
        interval_minutes: config.pass_interval_minutes,
    };
    let scheduler = &scheduler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let all = event.payload.get("all").and_then(Value::as_bool).unwrap_or(false);
        let queued = scheduler.tick(all).await?;
        Ok::<Value, Error>(json!({"queued": queued}))
    }))
    .await
}
