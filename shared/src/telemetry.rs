//! Structured JSON logs through `tracing`. Fields carry account and event ids, never secrets.
//!
//! The level comes from `RUST_LOG` (per-module filters), else from the runtime's
//! `AWS_LAMBDA_LOG_LEVEL` (`TRACE` … `ERROR`; `FATAL` reads as `ERROR`), else `info`. The format is
//! JSON unless the runtime's `AWS_LAMBDA_LOG_FORMAT` says `Text`.

use tracing_subscriber::{fmt, EnvFilter};

/// The log filter from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn filter_from(rust_log: Option<&str>, lambda_level: Option<&str>) -> EnvFilter {
    if let Some(directives) = rust_log.filter(|d| !d.trim().is_empty()) {
        if let Ok(filter) = EnvFilter::try_new(directives) {
            return filter;
        }
    }
    let level = match lambda_level.map(|l| l.trim().to_ascii_uppercase()).as_deref() {
        Some("TRACE") => "trace",
        Some("DEBUG") => "debug",
        Some("WARN") => "warn",
        Some("ERROR" | "FATAL") => "error",
        _ => "info",
    };
    EnvFilter::new(level)
}

/// Whether the runtime asks for plain text (`AWS_LAMBDA_LOG_FORMAT=Text`) instead of JSON.
pub fn text_format(lambda_format: Option<&str>) -> bool {
    lambda_format.is_some_and(|f| f.trim().eq_ignore_ascii_case("text"))
}

/// Installs the subscriber once (see the module's documentation). Safe to call twice.
pub fn init() {
    let var = |name: &str| std::env::var(name).ok();
    let filter = filter_from(var("RUST_LOG").as_deref(), var("AWS_LAMBDA_LOG_LEVEL").as_deref());
    if text_format(var("AWS_LAMBDA_LOG_FORMAT").as_deref()) {
        let _ = fmt().with_env_filter(filter).with_ansi(false).with_target(true).try_init();
        return;
    }
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

/// An error and its whole chain of sources, `outer: inner: innermost`, for one log field.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

/// A failed HTTP call in words safe for the logs: its kind (`timeout`, `connection failed`,
/// `request failed`) and the whole chain of causes, without the URL.
pub fn http_failure(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", error_chain(&e.without_url()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_level_applies_unless_rust_log_says_otherwise() {
        assert_eq!(filter_from(None, Some("DEBUG")).to_string(), "debug");
        assert_eq!(filter_from(None, Some("fatal")).to_string(), "error");
        assert_eq!(filter_from(None, None).to_string(), "info");
        assert_eq!(filter_from(Some("shared=trace"), Some("ERROR")).to_string(), "shared=trace");
        assert!(text_format(Some("Text")) && !text_format(Some("JSON")) && !text_format(None));
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("request failed")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"));
        assert_eq!(error_chain(&e), "request failed: connection timed out");
    }
}
