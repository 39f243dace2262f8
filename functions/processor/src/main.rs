//! Lambda `processor`: the SQS event source mapping (FIFO, `ReportBatchItemFailures`) hands it
//! batches; each record is applied through `shared::services::process`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use shared::hub::client::HubClient;
use shared::nhanh::gate::CallGate;
use shared::nhanh::NhanhClient;
use shared::queue::sqs::SqsQueue;
use shared::services::process::Processor;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let boot = shared::lambda::bootstrap().await?;
    let secrets = boot.secrets()?;
    let shared::lambda::Bootstrap { config, sdk, clock, store } = boot;
    let queue_url = config.require_queue_url()?.to_owned();
    let queue = Some(SqsQueue::from_sdk_config(&sdk, queue_url.clone()));
    let processor = Processor {
        connections: store.clone(),
        maps: store.clone(),
        intents: store.clone(),
        stats: store.clone(),
        failures: store.clone(),
        cursors: store.clone(),
        queue: Arc::new(SqsQueue::from_sdk_config(&sdk, queue_url)),
        // Processor instances run side by side: an ERR_429 one meets must stop the others too (R9).
        nhanh: Arc::new(NhanhClient::with_gate(
            shared::nhanh::default_http()?,
            &config.nhanh_api_url,
            &config.nhanh_oauth_url,
            CallGate::new(clock.clone()).with_shared_locks(store),
        )),
        hub: Arc::new(HubClient::new(
            HubClient::default_http()?,
            config.require_hub_api_url()?,
            config.require_hub_service_token()?.clone(),
            clock.clone(),
        )),
        secrets,
        clock,
        tokens: Default::default(),
        pass_budget: config.pass_budget(),
    };
    let (processor, queue) = (&processor, queue.as_ref().map(|q| q as &dyn shared::queue::RetryDelay));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = Some(event.context.deadline);
        Ok::<SqsBatchResponse, Error>(
            shared::lambda::process_sqs_batch(processor, queue, event.payload, deadline).await,
        )
    }))
    .await
}
