//! Lambda `intake`: `POST /nhanhvn/hook/{app_id}` and `POST /hub/hook/{account_id}`; an event is
//! acknowledged only once it is in the FIFO queue. All logic is in `shared`.

use lambda_http::{service_fn, Error, Request};
use shared::queue::sqs::SqsQueue;
use shared::services::intake::IntakeService;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let boot = shared::lambda::bootstrap("intake").await?;
    let secrets = boot.secrets()?;
    let hub_secret = boot.hub_webhook_secret()?;
    // Read once per cold start (both versions), not on the first Hub event.
    hub_secret.accepted().await?;
    let shared::lambda::Bootstrap { config, sdk, clock, store } = boot;
    let queue_url = config.require_queue_url()?.to_owned();
    let data_retention = config.data_retention();
    let mut service = IntakeService::new(
        store.clone(),
        store.clone(),
        Arc::new(SqsQueue::from_sdk_config(&sdk, queue_url)),
        secrets,
        clock,
        hub_secret,
        store,
    );
    service.data_retention = data_retention;
    let service = &service;
    lambda_http::run(service_fn(move |req: Request| async move {
        let request = shared::lambda::to_request(&req);
        let response = shared::lambda::in_request_span(&req, shared::web::intake::handle(service, &request)).await;
        shared::lambda::to_response(response)
    }))
    .await
}
