//! Structured JSON logs through `tracing`. Fields carry account and event ids, never secrets.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the JSON subscriber once (level from `RUST_LOG`, default `info`). Safe to call twice.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(true)
        .try_init();
}

/// Installs the ring crypto provider for rustls (reqwest and the AWS SDK use rustls without a
/// default provider). Call before building any HTTP client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
