//! Lambda `connect`: the connect page, activation, the Nhanh OAuth callback, disconnect and the
//! status JSON. Wires configuration and adapters; all logic is in `shared`.

use lambda_http::{service_fn, Error, Request};
use shared::hub::client::HubClient;
use shared::nhanh::NhanhClient;
use shared::services::connect::{ConnectService, Urls};
use shared::web::connect::{handle, ConnectApp};
use shared::web::cookie::CookieSigner;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut boot = shared::lambda::bootstrap("connect").await?;
    use shared::lambda::ConfigSecret::{CookieSigningKey, HubServiceToken, StatusApiToken};
    boot.read_secrets(&[HubServiceToken, CookieSigningKey, StatusApiToken]).await?;
    let secrets = boot.secrets()?;
    let shared::lambda::Bootstrap { config, sdk, clock, store } = boot;
    let hub_token = config.require_hub_service_token()?.clone();
    let public_base_url = config.require_public_base_url()?.to_owned();
    let queue = config.queue_url.clone().map(|url| {
        Arc::new(shared::queue::sqs::SqsQueue::from_sdk_config(&sdk, url)) as Arc<dyn shared::queue::WorkQueue>
    });
    // The page lists the account's dead letters from the table; Thử lại queues one again.
    let dead_letters = queue.clone().map(|work| {
        Arc::new(shared::queue::dead_letters::TableDeadLetters { store: store.clone(), work })
            as Arc<dyn shared::queue::dead_letters::DeadLetters>
    });
    let nhanh =
        NhanhClient::new(shared::nhanh::default_http()?, &config.nhanh_api_url, &config.nhanh_oauth_url, clock.clone());
    let hub =
        HubClient::new(HubClient::default_http()?, config.require_hub_api_url()?, hub_token.clone(), clock.clone());
    let signer_key = config.require_cookie_signing_key()?.clone();
    let status_token = config.require_status_api_token()?.clone();
    let app = ConnectApp {
        service: ConnectService {
            connections: store.clone(),
            pending: store.clone(),
            stats: store.clone(),
            failures: store.clone(),
            backlog: store.clone(),
            outages: store.clone(),
            cursors: store.clone(),
            dead_letters,
            queue,
            nhanh: Arc::new(nhanh),
            hub: Arc::new(hub),
            secrets,
            clock,
            urls: Urls { public_base_url: public_base_url.clone() },
            data_retention: config.data_retention(),
            fleet: store.clone(),
        },
        signer: CookieSigner::new(&signer_key),
        status_token,
        secure_cookies: public_base_url.starts_with("https://"),
        frame_ancestors: config.hub_admin_origins.clone(),
    };
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        let response = shared::lambda::in_request_span(&req, handle(app, &shared::lambda::to_request(&req))).await;
        shared::lambda::to_response(response)
    }))
    .await
}
