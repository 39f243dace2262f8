//! Lambda `intake`: `POST /nhanhvn/hook/{app_id}` and `POST /hub/hook/{account_id}`; an event is
//! acknowledged only once it is in the FIFO queue. All logic is in `shared`.

use lambda_http::{service_fn, Error, Request};
use shared::clock::{Clock, SystemClock};
use shared::config::Config;
use shared::queue::sqs::SqsQueue;
use shared::services::intake::IntakeService;
use shared::store::dynamo::DynamoStore;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    shared::telemetry::install_crypto_provider();
    let config = Config::from_env()?;
    let queue_url = config.queue_url.clone().ok_or("environment variable QUEUE_URL is required")?;
    let hub_secret = config.hub_webhook_secret.clone().ok_or("environment variable HUB_WEBHOOK_SECRET is required")?;
    let sdk = shared::lambda::aws_sdk_config(&config).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, config.table_name.clone()));
    let service = IntakeService::new(
        store.clone(),
        store,
        Arc::new(SqsQueue::from_sdk_config(&sdk, queue_url)),
        shared::lambda::secret_box(&config, &sdk)?,
        clock,
        hub_secret,
    );
    let service = &service;
    lambda_http::run(service_fn(move |req: Request| async move {
        let response = shared::web::intake::handle(service, &shared::lambda::to_request(&req)).await;
        shared::lambda::to_response(response)
    }))
    .await
}
