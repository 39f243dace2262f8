//! Metrics as CloudWatch embedded metric format (EMF, issue 24): one JSON document per line on
//! stdout, which CloudWatch Logs turns into metrics of the namespace [`NAMESPACE`] (the alarms and
//! the dashboard of `template.yaml` read them).
//!
//! Decision: one small module instead of a crate. `metrics_cloudwatch_embedded` exists but brings
//! the `metrics` facade and a collector flushed per invocation; the connector needs a handful of
//! counters and timings emitted where they happen, which is one `serde_json` document each.
//!
//! Dimensions stay low-cardinality: the function (set once by [`crate::lambda::bootstrap`]), and
//! where it helps the stream and the outcome. The account id is a property of the document (a
//! field of the log line, searchable in Logs Insights), never a dimension. Values are batched up
//! to 100 per document (EMF's limit), so a drain of 100 orders writes one lag document.

use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The namespace of every metric.
pub const NAMESPACE: &str = "NhanhvnConnector";

/// The most values one EMF document may carry for a metric.
const MAX_VALUES: usize = 100;

/// The function whose metrics these are (`connect`, `intake`, `processor`, `reconcile`).
static FUNCTION: OnceLock<&'static str> = OnceLock::new();

/// Names this process's function (the first call wins): the `function` dimension.
pub fn set_function(name: &'static str) {
    let _ = FUNCTION.set(name);
}

fn function() -> &'static str {
    FUNCTION.get().copied().unwrap_or("unknown")
}

/// What a metric counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Records by stream and outcome: settled by the processor (`applied`, `failed`, `dropped`,
    /// `ignored`, `retried`), or Nhanh webhooks taken by intake (`queued`, `dropped`, `ignored`,
    /// `webhooks_live`, `disconnected`).
    Records,
    /// Milliseconds from an event's reception by intake to its application.
    Lag,
    /// Calls made to Nhanh.
    NhanhCalls,
    /// Nhanh's `ERR_429` answers.
    NhanhRateLimited,
    /// Seconds Nhanh said a business stays locked, per `ERR_429`.
    NhanhLockedSeconds,
    /// Milliseconds of a Hub call.
    HubLatency,
    /// Hub calls answered 5xx or 429, or not answered.
    HubErrors,
    /// Records given up (dead letters of their account).
    RecordsGivenUp,
    /// Scheduled passes run (one per account and invocation).
    PassesRun,
    /// Milliseconds one invocation spent on a scheduled pass.
    PassDuration,
    /// Accounts that newly need their admin to connect again.
    AccountsNeedingReauth,
}

impl Metric {
    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Records => "Records",
            Metric::Lag => "Lag",
            Metric::NhanhCalls => "NhanhCalls",
            Metric::NhanhRateLimited => "NhanhRateLimited",
            Metric::NhanhLockedSeconds => "NhanhLockedSeconds",
            Metric::HubLatency => "HubLatency",
            Metric::HubErrors => "HubErrors",
            Metric::RecordsGivenUp => "RecordsGivenUp",
            Metric::PassesRun => "PassesRun",
            Metric::PassDuration => "PassDuration",
            Metric::AccountsNeedingReauth => "AccountsNeedingReauth",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::Lag | Metric::HubLatency | Metric::PassDuration => "Milliseconds",
            Metric::NhanhLockedSeconds => "Seconds",
            _ => "Count",
        }
    }
}

/// Properties of a document: fields of the log line (`account_id`, `app_id`, …), not dimensions.
pub type Properties<'a> = &'a [(&'static str, &'a str)];

/// The properties naming an account.
pub fn of_account(account: &str) -> [(&'static str, &str); 1] {
    [("account_id", account)]
}

/// The EMF documents of `values` of `metric` at `at_ms` (Unix ms) with `dimensions` beside the
/// function, and `properties` (at most [`MAX_VALUES`] values per document).
pub fn documents(
    metric: Metric,
    values: &[f64],
    dimensions: &[(&'static str, &str)],
    properties: Properties<'_>,
    at_ms: i64,
) -> Vec<String> {
    values
        .chunks(MAX_VALUES)
        .map(|chunk| {
            let mut names = vec!["function"];
            names.extend(dimensions.iter().map(|(k, _)| *k));
            let mut doc = Map::new();
            doc.insert(
                "_aws".into(),
                json!({"Timestamp": at_ms, "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [names],
                    "Metrics": [{"Name": metric.name(), "Unit": metric.unit()}]}]}),
            );
            doc.insert("function".into(), Value::from(function()));
            for (k, v) in dimensions {
                doc.insert((*k).into(), Value::from(*v));
            }
            for (k, v) in properties {
                doc.insert((*k).into(), Value::from(*v));
            }
            let value = match chunk {
                [one] => json!(one),
                many => json!(many),
            };
            doc.insert(metric.name().into(), value);
            Value::Object(doc).to_string()
        })
        .collect()
}

/// Writes `values` of `metric` to stdout as EMF documents (nothing when `values` is empty).
pub fn emit(metric: Metric, values: &[f64], dimensions: &[(&'static str, &str)], properties: Properties<'_>) {
    let at_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    for line in documents(metric, values, dimensions, properties, at_ms) {
        println!("{line}");
    }
}

/// Counts `amount` records of `stream` with `outcome` for `account` (the `Records` metric).
pub fn records(stream: &str, outcome: &str, amount: usize, account: &str) {
    if amount > 0 {
        let dims = [("stream", stream), ("outcome", outcome)];
        emit(Metric::Records, &[amount as f64], &dims, &of_account(account));
    }
}

/// Counts one of `metric`.
pub fn count(metric: Metric, dimensions: &[(&'static str, &str)], properties: Properties<'_>) {
    emit(metric, &[1.0], dimensions, properties);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_names_its_metric_dimensions_and_account_as_emf_wants() {
        set_function("processor");
        let docs = documents(
            Metric::Records,
            &[1.0],
            &[("stream", "orders"), ("outcome", "applied")],
            &of_account("385"),
            1_700_000_000_000,
        );
        assert_eq!(docs.len(), 1);
        let doc: Value = serde_json::from_str(&docs[0]).unwrap();
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["function", "stream", "outcome"]]));
        assert_eq!(cw["Metrics"], json!([{"Name": "Records", "Unit": "Count"}]));
        assert_eq!((doc["function"].as_str(), doc["stream"].as_str()), (Some("processor"), Some("orders")));
        assert_eq!(doc["Records"], 1.0);
        assert_eq!(doc["account_id"], "385", "a property, not a dimension");
    }

    #[test]
    fn many_values_are_split_into_documents_of_at_most_100() {
        let values: Vec<f64> = (0..250).map(f64::from).collect();
        let docs = documents(Metric::Lag, &values, &[], &[], 0);
        let sizes: Vec<usize> = docs
            .iter()
            .map(|d| serde_json::from_str::<Value>(d).unwrap()["Lag"].as_array().map_or(1, Vec::len))
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let first: Value = serde_json::from_str(&docs[0]).unwrap();
        assert_eq!(first["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"], "Milliseconds");
        assert!(first.get("account_id").is_none());
        assert!(documents(Metric::Lag, &[], &[], &[], 0).is_empty());
    }
}
