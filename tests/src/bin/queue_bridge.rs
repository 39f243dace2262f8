//! Runs the local SQS → processor bridge. Env: `QUEUE_URL`, `QUEUE_ARN`, `LAMBDA_URL`,
//! `BRIDGE_ADDR` (control API), `TAP_FILE`, `INVOKE_TIMEOUT_SECS` (30), AWS variables.

use sims::bridge::{control, Bridge};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let queue_url = std::env::var("QUEUE_URL")?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let sdk = shared::lambda::aws_sdk_config_for(endpoint.as_deref()).await;
    let bridge = Arc::new(Bridge::new(
        shared::queue::sqs::SqsQueue::from_sdk_config(&sdk, queue_url),
        std::env::var("QUEUE_ARN").unwrap_or_else(|_| "arn:aws:sqs:us-east-1:123456789012:local-work.fifo".into()),
        std::env::var("LAMBDA_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into()),
        std::env::var("FUNCTION").unwrap_or_else(|_| "processor".into()),
        std::env::var("TAP_FILE").ok().map(Into::into),
        // template.yaml's ProcessorFunction Timeout.
        std::time::Duration::from_secs(
            std::env::var("INVOKE_TIMEOUT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30),
        ),
    ));
    let addr = std::env::var("BRIDGE_ADDR").unwrap_or_else(|_| "127.0.0.1:9400".into());
    // Bind before polling: a taken port stops the bridge instead of leaving it half started.
    let listener =
        tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("bridge: cannot listen on {addr}: {e}"))?;
    let ctl = control(bridge.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, ctl).await {
            eprintln!("bridge: control API failed: {e}");
        }
    });
    let every = std::env::var("RECONCILE_INTERVAL_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60u64);
    tokio::spawn(bridge.clone().schedule(std::time::Duration::from_secs(every.max(1))));
    println!("bridge: polling; scheduler every {every} s");
    bridge.run().await;
    Ok(())
}
