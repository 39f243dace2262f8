//! The only module that knows `lambda_http` and the AWS SDK configuration: converts requests and
//! responses, and builds the real adapters from [`Config`].

use crate::config::{Config, ConfigError, KeySource};
use crate::secrets::kms::KmsSecretBox;
use crate::secrets::local::LocalSecretBox;
use crate::secrets::managed::{configured, ManagedSecret, SecretSource, SecretsManagerSource};
use crate::secrets::SecretBox;
use crate::web::http::{HttpRequest, HttpResponse};
use lambda_http::{Body, Request, RequestExt, Response};
use std::sync::Arc;

/// Converts a Lambda HTTP request.
pub fn to_request(req: &Request) -> HttpRequest {
    let mut query: Vec<(String, String)> =
        req.uri().query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    if query.is_empty() {
        let params = req.query_string_parameters();
        query = params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    }
    HttpRequest {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query,
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
            .collect(),
        body: req.body().as_ref().to_vec(),
    }
}

/// Runs `handle` inside one span per HTTP request (method, path, the Lambda request id), so every
/// log line of the request carries them without repeating them, and logs one line when it is
/// answered: its status and how long it took (the query, which may carry a one-time code, is not
/// logged).
pub async fn in_request_span<F: std::future::Future<Output = HttpResponse>>(req: &Request, handle: F) -> HttpResponse {
    use tracing::Instrument;
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
    let span = tracing::info_span!(
        "http_request",
        method = req.method().as_str(),
        path = req.uri().path(),
        request_id = request_id.as_str()
    );
    async {
        let started = std::time::Instant::now();
        let response = handle.await;
        tracing::info!(status = response.status, elapsed_ms = started.elapsed().as_millis() as u64, "answered");
        response
    }
    .instrument(span)
    .await
}

/// Converts a response for Lambda.
pub fn to_response(resp: HttpResponse) -> Result<Response<Body>, lambda_http::Error> {
    let mut builder = Response::builder().status(resp.status);
    for (name, value) in &resp.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    Ok(builder.body(if resp.body.is_empty() { Body::Empty } else { Body::Text(resp.body) })?)
}

/// Loads the AWS SDK configuration with the ring-based HTTPS client and the local endpoint, if any.
pub async fn aws_sdk_config(config: &Config) -> aws_config::SdkConfig {
    aws_sdk_config_for(config.aws_endpoint_url.as_deref()).await
}

/// Loads the AWS SDK configuration for an optional emulator endpoint (credentials and region from
/// the environment).
pub async fn aws_sdk_config_for(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    // Local stack only: records each call for the IAM check when AWS_ACTION_LOG is set.
    let http = crate::aws_audit::wrap_from_env(http);
    // Set explicitly rather than inherited from the SDK's defaults: standard mode (throttling and
    // 5xx retried with jittered backoff), 3 attempts, and timeouts well inside a Lambda invocation.
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(50));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .operation_timeout(std::time::Duration::from_secs(25))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Builds the secret box the configuration asks for (only the functions that seal or open secrets
/// call this; the others carry no key).
pub fn secret_box(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Arc<dyn SecretBox>, String> {
    match config.require_key_source().map_err(|e| e.to_string())? {
        KeySource::Kms(key_id) => Ok(Arc::new(KmsSecretBox::new(aws_sdk_kms::Client::new(sdk), key_id.clone()))),
        KeySource::Local(key) => LocalSecretBox::from_key_text(key.expose())
            .map(|b| Arc::new(b) as Arc<dyn SecretBox>)
            .ok_or_else(|| "LOCAL_DATA_KEY must be 32 bytes as base64 or 64 hex characters".to_owned()),
    }
}

/// Runs a batch of the SQS event source mapping through the processor and builds the partial
/// batch response. Each record not applied is disposed of by [`Processor::dispose`]: retried after
/// its delay (its visibility moved through `queue`), given up as a dead letter of its account
/// (acknowledged), or, when its body does not decode, moved to the dead-letter queue `dlq`. Passes
/// and initial sync pages stop before the invocation's `deadline` (milliseconds since the epoch,
/// as the runtime gives it).
///
/// [`Processor::dispose`]: crate::services::process::Processor::dispose
pub async fn process_sqs_batch(
    processor: &crate::services::process::Processor,
    queue: Option<&dyn crate::queue::RetryDelay>,
    dlq: Option<&dyn crate::queue::WorkQueue>,
    event: aws_lambda_events::event::sqs::SqsEvent,
    deadline_ms: Option<u64>,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    use crate::services::process::{BatchRecord, Disposition, FailedDelivery};
    let records: Vec<BatchRecord> = event
        .records
        .iter()
        .map(|r| BatchRecord {
            message_id: r.message_id.clone().unwrap_or_default(),
            group_id: r.attributes.get("MessageGroupId").cloned().unwrap_or_default(),
            body: r.body.clone().unwrap_or_default(),
        })
        .collect();
    let instant = |ms: i128| {
        ms.checked_mul(1_000_000).and_then(|nanos| time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
    };
    let deadline = deadline_ms.and_then(|ms| instant(i128::from(ms)));
    let failures = crate::services::process::within_deadline(deadline, processor.process_batch(&records)).await;
    let mut response = aws_lambda_events::event::sqs::SqsBatchResponse::default();
    for failure in failures {
        let Some(r) = event.records.iter().find(|r| r.message_id.as_deref() == Some(failure.message_id.as_str()))
        else {
            response.add_failure(failure.message_id);
            continue;
        };
        let attribute = |name: &str| r.attributes.get(name).map(String::as_str);
        let delivery = FailedDelivery {
            message_id: &failure.message_id,
            group_id: attribute("MessageGroupId").unwrap_or_default(),
            body: r.body.as_deref().unwrap_or_default(),
            deliveries: attribute("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1),
            first_delivered_at: attribute("ApproximateFirstReceiveTimestamp")
                .and_then(|ms| ms.parse::<i128>().ok())
                .and_then(instant),
        };
        match processor.dispose(&delivery, &failure).await {
            Disposition::GivenUp => {}
            Disposition::Undecodable if moved_to_dead_letter_queue(dlq, &delivery).await => {}
            Disposition::Undecodable => response.add_failure(failure.message_id),
            Disposition::Retry { after_secs } => {
                if let (Some(queue), Some(receipt)) = (queue, r.receipt_handle.as_deref()) {
                    if let Err(e) = queue.delay(receipt, after_secs).await {
                        tracing::warn!(message_id = failure.message_id.as_str(), error = %e, "could not delay the retry");
                    }
                }
                response.add_failure(failure.message_id);
            }
        }
    }
    response
}

/// Sends an undecodable delivery to the dead-letter queue in its group (a fresh deduplication
/// id); whether it is there, so the original may be acknowledged.
async fn moved_to_dead_letter_queue(
    dlq: Option<&dyn crate::queue::WorkQueue>,
    delivery: &crate::services::process::FailedDelivery<'_>,
) -> bool {
    let Some(dlq) = dlq else { return false };
    let message = crate::queue::QueueMessage {
        group_id: delivery.group_id.to_owned(),
        dedup_id: format!("{}-undecodable", delivery.message_id.chars().take(100).collect::<String>()),
        body: delivery.body.to_owned(),
    };
    match dlq.send(std::slice::from_ref(&message)).await {
        Ok(()) => {
            tracing::error!(
                message_id = delivery.message_id,
                group_id = delivery.group_id,
                "undecodable work item moved to the dead-letter queue"
            );
            true
        }
        Err(e) => {
            tracing::warn!(message_id = delivery.message_id, error = %e, "undecodable work item not moved; SQS will");
            false
        }
    }
}

/// What every function's `main` starts from: logging, configuration, the AWS SDK, the clock and
/// the DynamoDB store, built once per cold start.
pub struct Bootstrap {
    /// Configuration from the environment.
    pub config: Config,
    /// The AWS SDK configuration.
    pub sdk: aws_config::SdkConfig,
    /// The system clock.
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The DynamoDB store (every store port).
    pub store: Arc<crate::store::dynamo::DynamoStore>,
}

impl Bootstrap {
    /// `HUB_WEBHOOK_SECRET` (intake): from Secrets Manager when `HUB_WEBHOOK_SECRET_SECRET_ID` is
    /// set, its previous version accepted too; else the variable's own value.
    pub fn hub_webhook_secret(&self) -> Result<Arc<ManagedSecret>, lambda_http::Error> {
        let sdk = &self.sdk;
        let source = || Arc::new(SecretsManagerSource::from_sdk_config(sdk)) as Arc<dyn SecretSource>;
        configured("HUB_WEBHOOK_SECRET", |n| std::env::var(n).ok(), source, true)
            .map(Arc::new)
            .ok_or_else(|| ConfigError::Missing("HUB_WEBHOOK_SECRET").into())
    }

    /// The secret box (KMS or the local key), for functions that seal or open secrets.
    pub fn secrets(&self) -> Result<Arc<dyn SecretBox>, lambda_http::Error> {
        Ok(secret_box(&self.config, &self.sdk)?)
    }
}

impl Bootstrap {
    /// The processor with its real adapters, as the `processor` function runs it. Processor
    /// instances run side by side: an ERR_429 one meets must stop the others too (R9), so the
    /// Nhanh client's gate shares its locks through the store.
    pub fn processor(&self) -> Result<crate::services::process::Processor, lambda_http::Error> {
        use crate::hub::client::HubClient;
        use crate::nhanh::{gate::CallGate, NhanhClient};
        let (config, store, clock) = (&self.config, &self.store, &self.clock);
        let queue_url = config.require_queue_url()?.to_owned();
        Ok(crate::services::process::Processor {
            connections: store.clone(),
            maps: store.clone(),
            intents: store.clone(),
            stats: store.clone(),
            failures: store.clone(),
            cursors: store.clone(),
            queue: Arc::new(crate::queue::sqs::SqsQueue::from_sdk_config(&self.sdk, queue_url)),
            nhanh: Arc::new(NhanhClient::with_gate(
                crate::nhanh::default_http()?,
                &config.nhanh_api_url,
                &config.nhanh_oauth_url,
                CallGate::new(clock.clone()).with_shared_locks(store.clone()),
            )),
            hub: Arc::new(HubClient::new(
                HubClient::default_http()?,
                config.require_hub_api_url()?,
                config.require_hub_service_token()?.clone(),
                clock.clone(),
            )),
            secrets: self.secrets()?,
            clock: clock.clone(),
            tokens: Default::default(),
            customers: Default::default(),
            account_data: store.clone(),
            erasure: store.clone(),
            pass_budget: config.pass_budget(),
            retry: config.retry_rule(),
            dead_letters: store.clone(),
            backlog: store.clone(),
            outage: crate::services::process::OutageGuard::new(store.clone())
                .with_probe_every(config.hub_probe_every()),
        })
    }
}

/// A secret of the configuration that [`Bootstrap::read_secrets`] can read from Secrets Manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSecret {
    /// `HUB_SERVICE_TOKEN` (connect, processor).
    HubServiceToken,
    /// `COOKIE_SIGNING_KEY` (connect).
    CookieSigningKey,
    /// `STATUS_API_TOKEN` (connect).
    StatusApiToken,
}

impl ConfigSecret {
    fn name(self) -> &'static str {
        match self {
            Self::HubServiceToken => "HUB_SERVICE_TOKEN",
            Self::CookieSigningKey => "COOKIE_SIGNING_KEY",
            Self::StatusApiToken => "STATUS_API_TOKEN",
        }
    }
}

impl Bootstrap {
    /// Reads the function's own secrets once per cold start, in parallel, where the environment
    /// names them by id (`{NAME}_SECRET_ID`), and puts their current values in the configuration;
    /// a secret given by value stays as read. Intake's Hub webhook secret is read by
    /// [`Bootstrap::hub_webhook_secret`], previous version included.
    pub async fn read_secrets(&mut self, wanted: &[ConfigSecret]) -> Result<(), lambda_http::Error> {
        let mut source: Option<Arc<dyn SecretSource>> = None;
        let mut secrets: Vec<(ConfigSecret, ManagedSecret)> = Vec::new();
        for which in wanted {
            let Some(id) = std::env::var(format!("{}_SECRET_ID", which.name())).ok().filter(|v| !v.trim().is_empty())
            else {
                continue;
            };
            let source =
                source.get_or_insert_with(|| Arc::new(SecretsManagerSource::from_sdk_config(&self.sdk))).clone();
            secrets.push((*which, ManagedSecret::from_source(which.name(), id, source, false)));
        }
        if secrets.is_empty() {
            return Ok(());
        }
        let values = futures::future::try_join_all(secrets.iter().map(|(_, m)| m.current())).await?;
        for ((which, _), value) in secrets.iter().zip(values) {
            let slot = match which {
                ConfigSecret::HubServiceToken => &mut self.config.hub_service_token,
                ConfigSecret::CookieSigningKey => &mut self.config.cookie_signing_key,
                ConfigSecret::StatusApiToken => &mut self.config.status_api_token,
            };
            *slot = Some(value);
        }
        let named: Vec<&str> = secrets.iter().map(|(_, m)| m.name()).collect();
        tracing::info!(secrets = ?named, "secrets read from Secrets Manager");
        Ok(())
    }
}

/// Initialises logging, metrics (as `function`) and TLS, reads the configuration and builds the
/// shared adapters.
pub async fn bootstrap(function: &'static str) -> Result<Bootstrap, lambda_http::Error> {
    crate::telemetry::init();
    crate::metrics::set_function(function);
    crate::telemetry::install_crypto_provider();
    let config = Config::from_env()?;
    let sdk = aws_sdk_config(&config).await;
    let store = Arc::new(crate::store::dynamo::DynamoStore::from_sdk_config(&sdk, config.table_name.clone()));
    Ok(Bootstrap { clock: Arc::new(crate::clock::SystemClock), store, config, sdk })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::memory::MemoryQueue;
    use crate::testing::processor_fixture;

    /// `events/processor-sqs-batch.json` (the sample `cargo lambda invoke` uses), made the
    /// fixture's: its account, received after it connected.
    fn sample_batch(account: &str, received_at: time::OffsetDateTime) -> aws_lambda_events::event::sqs::SqsEvent {
        let text = include_str!("../../events/processor-sqs-batch.json")
            .replace(r#"\"account_id\":\"385\""#, &format!(r#"\"account_id\":\"{account}\""#))
            .replace("2026-12-02T06:00:0", &crate::clock::rfc3339(received_at)[..18]);
        serde_json::from_str(&text).unwrap()
    }

    #[tokio::test]
    async fn a_batch_reports_a_rate_limited_record_and_its_group_and_delays_it_until_the_unlock() {
        let f = processor_fixture().await;
        let product = crate::nhanh::Product {
            id: crate::domain::NhanhId::new(5).unwrap(),
            parent_id: None,
            category_id: None,
            code: Some("SP5".into()),
            barcode: None,
            name: "Áo".into(),
            price: Some(100_000),
            status: Some(crate::nhanh::ProductStatus::Active),
            image: None,
            created_at: None,
        };
        f.nhanh.products.lock().unwrap().insert(5, product);
        *f.nhanh.orders_locked_until.lock().unwrap() = Some(f.now + time::Duration::seconds(30));
        let queue = MemoryQueue::default();
        let event = sample_batch(f.account.as_str(), f.now);
        let deadline = Some(u64::try_from((f.now + time::Duration::minutes(1)).unix_timestamp() * 1000).unwrap());
        let response = process_sqs_batch(&f.processor, Some(&queue), None, event, deadline).await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|b| b.item_identifier.as_str()).collect();
        assert_eq!(failed, ["m-order-9", "m-order-9-later"], "the order is held, its group's later record too");
        let delays = queue.delays();
        assert_eq!(delays[0], ("rh-order-9".to_owned(), 30), "retried when Nhanh unlocks, not before");
        assert_eq!(delays.len(), 2, "the record held back behind it waits its backoff: {delays:?}");
        assert_eq!(f.hub.all("products").len(), 1, "the product's group went on");
    }

    /// Issue 23: a wait is not a failure. Earlier deliveries are retried after their delay (a
    /// rate lock's instant, else a growing backoff); the last one, or one past the horizon, gives
    /// the record up as a dead letter of its account in the table, and acknowledges it.
    #[tokio::test]
    async fn a_record_waits_and_is_given_up_only_at_its_last_delivery_or_past_the_horizon() {
        use crate::store::DeadLetterStore;
        let f = processor_fixture().await;
        *f.nhanh.orders_locked_until.lock().unwrap() = Some(f.now + time::Duration::seconds(30));
        let mut event = sample_batch(f.account.as_str(), f.now);
        event.records.retain(|r| r.message_id.as_deref().is_some_and(|m| m.starts_with("m-order-9")));
        for r in &mut event.records {
            r.attributes.insert("MessageGroupId".into(), format!("{}:order:9", f.account.as_str()));
        }
        let queue = MemoryQueue::default();
        let run = |event| async { process_sqs_batch(&f.processor, Some(&queue), None, event, None).await };
        let first = run(event.clone()).await;
        assert_eq!(first.batch_item_failures.len(), 2, "both wait");
        let delays = queue.delays();
        assert_eq!(delays[0], ("rh-order-9".to_owned(), 30), "the locked record waits for the unlock");
        assert!((8..=10).contains(&delays[1].1), "the one held back waits the first backoff: {delays:?}");
        assert!(f.store.dead_letters(&f.account, 10).await.unwrap().is_empty());
        // Past the horizon: the second delivery of a record first delivered 25 hours ago.
        let first_ms = ((f.now - time::Duration::hours(25)).unix_timestamp() * 1000).to_string();
        let mut late = event.clone();
        for r in &mut late.records {
            r.attributes.insert("ApproximateReceiveCount".into(), "2".into());
            r.attributes.insert("ApproximateFirstReceiveTimestamp".into(), first_ms.clone());
        }
        assert!(run(late).await.batch_item_failures.is_empty(), "given up: acknowledged");
        let letters = f.store.dead_letters(&f.account, 10).await.unwrap();
        assert_eq!(letters.len(), 2, "{letters:?}");
        assert!(letters.iter().any(|l| l.reason.contains("rate limit")), "{letters:?}");
        assert!(letters.iter().all(|l| l.first_failed_at == f.now - time::Duration::hours(25)));
        // The last delivery the queue allows gives it up too.
        for l in &letters {
            f.store.take_dead_letter(&f.account, &l.id).await.unwrap();
        }
        for r in &mut event.records {
            r.attributes.insert("ApproximateReceiveCount".into(), "5".into());
        }
        assert!(run(event).await.batch_item_failures.is_empty());
        assert_eq!(f.store.dead_letters(&f.account, 10).await.unwrap().len(), 2);
    }

    /// A body this release cannot read (a kind queued by a newer release before a rollback) names
    /// no account: it moves to the SQS dead-letter queue at once (kept, never acknowledged unread),
    /// and stays failing when that queue cannot take it. Other groups go on.
    #[tokio::test]
    async fn an_undecodable_record_moves_to_the_dead_letter_queue() {
        let f = processor_fixture().await;
        let mut event = sample_batch(f.account.as_str(), f.now);
        let newer = format!(r#"{{"kind":"nhanh_batch","account_id":"{}","ids":[1,2]}}"#, f.account.as_str());
        event.records[0].body = Some(newer.clone());
        let first = event.records[0].message_id.clone().unwrap_or_default();
        let group = event.records[0].attributes.get("MessageGroupId").cloned().unwrap_or_default();
        event
            .records
            .retain(|r| r.attributes.get("MessageGroupId") != Some(&group) || r.message_id.as_deref() == Some(&first));
        let dlq = MemoryQueue::default();
        let moved = process_sqs_batch(&f.processor, None, Some(&dlq), event.clone(), None).await;
        assert!(moved.batch_item_failures.is_empty(), "moved, so acknowledged");
        assert_eq!(dlq.messages().iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), [newer.as_str()]);
        let kept = process_sqs_batch(&f.processor, None, None, event, None).await;
        let failed: Vec<&str> = kept.batch_item_failures.iter().map(|b| b.item_identifier.as_str()).collect();
        assert_eq!(failed, [first.as_str()], "without a dead-letter queue it stays failing");
    }
}
