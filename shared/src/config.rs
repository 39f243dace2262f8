//! Configuration from environment variables only (a Lambda zip carries just `bootstrap`).

use crate::secrets::SecretString;

/// Default consent page of Nhanh.
pub const DEFAULT_NHANH_OAUTH_URL: &str = "https://nhanh.vn/oauth";
/// Default Nhanh API host.
pub const DEFAULT_NHANH_API_URL: &str = "https://pos.open.nhanh.vn";

/// Where sealed secrets are protected.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// AWS KMS key id, ARN or alias (`KMS_KEY_ID`).
    Kms(String),
    /// A local AES-256 key (`LOCAL_DATA_KEY`), for development and tests.
    Local(SecretString),
}

/// A required variable is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is not set (or empty).
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// The variable is set but unusable.
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
}

/// The connector's configuration. Secrets are redacted in `Debug`.
///
/// Only `TABLE_NAME` is read by every function. The rest is optional here and required by the
/// function that uses it (through the accessors below), so each function's environment carries
/// only what it needs: least privilege for secrets, as the template sets them per function.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `QUEUE_URL`: the FIFO work queue (not needed by every function).
    pub queue_url: Option<String>,
    /// `DLQ_URL`: the SQS dead-letter queue, where the processor moves bodies that do not decode
    /// (optional; without it they stay failing until SQS moves them).
    pub dlq_url: Option<String>,
    /// `PUBLIC_BASE_URL`: the public origin, without a trailing slash (connect).
    pub public_base_url: Option<String>,
    /// `HUB_ADMIN_ORIGINS`: the origins of the Hub's admin allowed to show the connect pages in an
    /// iframe (space- or comma-separated `https://host[:port]`; connect). Empty: never framed.
    pub hub_admin_origins: Vec<String>,
    /// `NHANH_OAUTH_URL`: Nhanh's consent page.
    pub nhanh_oauth_url: String,
    /// `NHANH_API_URL`: Nhanh's API origin.
    pub nhanh_api_url: String,
    /// `HUB_API_URL`: the Loyalty Hub API base (connect, processor).
    pub hub_api_url: Option<String>,
    /// `HUB_SERVICE_TOKEN`: the connector's token at the Hub (connect, processor).
    pub hub_service_token: Option<SecretString>,
    /// `HUB_WEBHOOK_SECRET` in plain mode (intake reads it, or its Secrets Manager id, through
    /// [`crate::lambda::Bootstrap::hub_webhook_secret`]); kept here so no other credential may equal it.
    pub hub_webhook_secret: Option<SecretString>,
    /// `KMS_KEY_ID` or `LOCAL_DATA_KEY` (connect, intake, processor).
    pub key_source: Option<KeySource>,
    /// `AWS_ENDPOINT_URL`: local emulator endpoint.
    pub aws_endpoint_url: Option<String>,
    /// `RECONCILE_INTERVAL_SECS`: the local stand-in for the schedule (default 60).
    pub reconcile_interval_secs: u64,
    /// `COOKIE_SIGNING_KEY` (connect): key of the admin cookie and CSRF tokens, a secret of its
    /// own (issue 22: no other credential may mint admin cookies).
    pub cookie_signing_key: Option<SecretString>,
    /// `STATUS_API_TOKEN` (connect): the credential of the status JSON for the Hub's operators,
    /// a secret of its own (not the token the connector presents to the Hub).
    pub status_api_token: Option<SecretString>,
    /// `PASS_BUDGET_SECS` (optional, default 15): how long one processor invocation works on a
    /// scheduled pass before it continues in a new work item; keep it well under the Lambda timeout.
    pub pass_budget_secs: u64,
    /// `HUB_PROBE_SECS` (optional, default 10): how often the probe calls the Hub during an outage.
    pub hub_probe_secs: u64,
    /// `DATA_RETENTION_DAYS` (optional, default 30; connect, intake): how long a disconnected
    /// account's id maps, snapshots and intents are kept before they expire (issue 24).
    pub data_retention_days: u16,
    /// `PASS_INTERVAL_MINUTES` (optional, default 1): minutes between two scheduled passes of one
    /// account when the schedule ticks every minute; each account has its slot (template: 5).
    pub pass_interval_minutes: u32,
    /// `MAX_RECEIVE_COUNT` (optional, default 1 000, template.yaml's `MaxReceiveCount`): deliveries
    /// of a record before SQS would move it to the dead-letter queue; the processor gives it up at
    /// that delivery instead (a dead letter of its account in the table).
    pub max_receive_count: u32,
    /// `RETRY_HORIZON_SECS` (optional, default 86 400): how long after its first delivery a record
    /// that was not applied is still retried before it is given up (issue 23).
    pub retry_horizon_secs: u64,
    /// `RETRY_BASE_SECS` (optional, default 10): the first retry's delay, doubled at each further
    /// one up to 15 minutes.
    pub retry_base_secs: u64,
}

impl Config {
    /// `PUBLIC_BASE_URL`, required by the function asking.
    pub fn require_public_base_url(&self) -> Result<&str, ConfigError> {
        self.public_base_url.as_deref().ok_or(ConfigError::Missing("PUBLIC_BASE_URL"))
    }

    /// `HUB_API_URL`, required by the function asking.
    pub fn require_hub_api_url(&self) -> Result<&str, ConfigError> {
        self.hub_api_url.as_deref().ok_or(ConfigError::Missing("HUB_API_URL"))
    }

    /// `HUB_SERVICE_TOKEN`, required by the function asking.
    pub fn require_hub_service_token(&self) -> Result<&SecretString, ConfigError> {
        self.hub_service_token.as_ref().ok_or(ConfigError::Missing("HUB_SERVICE_TOKEN"))
    }

    /// `COOKIE_SIGNING_KEY`, required by the connect function: at least 32 characters, and none
    /// of the other credentials (holding the Hub token or the status token must not let anyone
    /// mint admin cookies).
    pub fn require_cookie_signing_key(&self) -> Result<&SecretString, ConfigError> {
        let key = self.cookie_signing_key.as_ref().ok_or(ConfigError::Missing("COOKIE_SIGNING_KEY"))?;
        if key.expose().chars().count() < 32 {
            return Err(ConfigError::Invalid("COOKIE_SIGNING_KEY", "must be at least 32 characters"));
        }
        let reused = [&self.hub_service_token, &self.status_api_token, &self.hub_webhook_secret]
            .into_iter()
            .flatten()
            .any(|other| other.expose() == key.expose());
        if reused {
            return Err(ConfigError::Invalid("COOKIE_SIGNING_KEY", "must not be another credential of the connector"));
        }
        Ok(key)
    }

    /// `STATUS_API_TOKEN`, required by the connect function: at least 32 characters, and not the
    /// Hub service token (the two have different holders).
    pub fn require_status_api_token(&self) -> Result<&SecretString, ConfigError> {
        let token = self.status_api_token.as_ref().ok_or(ConfigError::Missing("STATUS_API_TOKEN"))?;
        if token.expose().chars().count() < 32 {
            return Err(ConfigError::Invalid("STATUS_API_TOKEN", "must be at least 32 characters"));
        }
        if self.hub_service_token.as_ref().is_some_and(|hub| hub.expose() == token.expose()) {
            return Err(ConfigError::Invalid("STATUS_API_TOKEN", "must not be the Hub service token"));
        }
        Ok(token)
    }

    /// `QUEUE_URL`, required by the function asking.
    pub fn require_queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url.as_deref().ok_or(ConfigError::Missing("QUEUE_URL"))
    }

    /// `KMS_KEY_ID` or `LOCAL_DATA_KEY`, required by the function asking.
    pub fn require_key_source(&self) -> Result<&KeySource, ConfigError> {
        self.key_source.as_ref().ok_or(ConfigError::Missing("KMS_KEY_ID or LOCAL_DATA_KEY"))
    }

    /// The processor's retry rule from `MAX_RECEIVE_COUNT`, `RETRY_HORIZON_SECS` and `RETRY_BASE_SECS`.
    pub fn retry_rule(&self) -> crate::services::process::RetryRule {
        let secs = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
        crate::services::process::RetryRule {
            max_receive_count: self.max_receive_count,
            horizon: secs(self.retry_horizon_secs),
            base: secs(self.retry_base_secs),
        }
    }

    /// [`Config::hub_probe_secs`] as a duration.
    pub fn hub_probe_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.hub_probe_secs)
    }

    /// [`Config::pass_budget_secs`] as a duration.
    pub fn pass_budget(&self) -> time::Duration {
        time::Duration::seconds(i64::try_from(self.pass_budget_secs).unwrap_or(i64::MAX))
    }

    /// [`Config::data_retention_days`] as a duration.
    pub fn data_retention(&self) -> time::Duration {
        time::Duration::days(i64::from(self.data_retention_days))
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let url = |name: &'static str, value: String| {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(value.trim_end_matches('/').to_owned())
            } else {
                Err(ConfigError::Invalid(name, "must start with http:// or https://"))
            }
        };
        let key_source = match (get("KMS_KEY_ID"), get("LOCAL_DATA_KEY")) {
            (Some(id), _) => Some(KeySource::Kms(id)),
            (None, Some(key)) => Some(KeySource::Local(SecretString::new(key))),
            (None, None) => None,
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            queue_url: get("QUEUE_URL"),
            dlq_url: get("DLQ_URL"),
            public_base_url: get("PUBLIC_BASE_URL").map(|v| url("PUBLIC_BASE_URL", v)).transpose()?,
            hub_admin_origins: origins("HUB_ADMIN_ORIGINS", get("HUB_ADMIN_ORIGINS"))?,
            nhanh_oauth_url: url(
                "NHANH_OAUTH_URL",
                get("NHANH_OAUTH_URL").unwrap_or_else(|| DEFAULT_NHANH_OAUTH_URL.into()),
            )?,
            nhanh_api_url: url("NHANH_API_URL", get("NHANH_API_URL").unwrap_or_else(|| DEFAULT_NHANH_API_URL.into()))?,
            hub_api_url: get("HUB_API_URL").map(|v| url("HUB_API_URL", v)).transpose()?,
            hub_service_token: get("HUB_SERVICE_TOKEN").map(SecretString::new),
            hub_webhook_secret: get("HUB_WEBHOOK_SECRET").map(SecretString::new),
            key_source,
            aws_endpoint_url: get("AWS_ENDPOINT_URL"),
            reconcile_interval_secs: positive("RECONCILE_INTERVAL_SECS", get("RECONCILE_INTERVAL_SECS"), 60)?,
            cookie_signing_key: get("COOKIE_SIGNING_KEY").map(SecretString::new),
            status_api_token: get("STATUS_API_TOKEN").map(SecretString::new),
            pass_budget_secs: match get("PASS_BUDGET_SECS") {
                None => 15,
                Some(v) => v
                    .parse()
                    .map_err(|_| ConfigError::Invalid("PASS_BUDGET_SECS", "must be a whole number of seconds"))?,
            },
            hub_probe_secs: positive("HUB_PROBE_SECS", get("HUB_PROBE_SECS"), 10)?,
            data_retention_days: positive("DATA_RETENTION_DAYS", get("DATA_RETENTION_DAYS"), 30)?,
            pass_interval_minutes: positive("PASS_INTERVAL_MINUTES", get("PASS_INTERVAL_MINUTES"), 1)?,
            max_receive_count: positive("MAX_RECEIVE_COUNT", get("MAX_RECEIVE_COUNT"), 1000)?,
            retry_horizon_secs: positive("RETRY_HORIZON_SECS", get("RETRY_HORIZON_SECS"), 86_400)?,
            retry_base_secs: positive("RETRY_BASE_SECS", get("RETRY_BASE_SECS"), 10)?,
        })
    }
}

/// The positive integer `value` of the variable `name`, or `default` when it is unset.
fn positive<T: std::str::FromStr + PartialOrd + Default>(
    name: &'static str,
    value: Option<String>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => {
            v.parse().ok().filter(|n| *n > T::default()).ok_or(ConfigError::Invalid(name, "must be a positive integer"))
        }
    }
}

/// The origins of `raw` (space- or comma-separated), each `https://host[:port]` or, for a
/// local stack, `http://localhost[:port]` / `http://127.0.0.1[:port]`: nothing else may enter the
/// pages' `frame-ancestors` (a `;` or a quote there would rewrite the policy).
fn origins(name: &'static str, raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    raw.split([' ', ',']).filter(|o| !o.is_empty()).map(|o| origin(name, o)).collect()
}

fn origin(name: &'static str, o: &str) -> Result<String, ConfigError> {
    let invalid = ConfigError::Invalid(name, "each origin must be https://host[:port] (or http://localhost[:port])");
    let rest = match (o.strip_prefix("https://"), o.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if rest.starts_with("localhost") || rest.starts_with("127.0.0.1") => rest,
        _ => return Err(invalid),
    };
    let (host, port) = rest.split_once(':').map_or((rest, None), |(h, p)| (h, Some(p)));
    let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(o.to_owned())
    } else {
        Err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn hub_admin_origins_are_plain_origins_only() {
        let read = |raw: &str| origins("HUB_ADMIN_ORIGINS", Some(raw.into()));
        assert_eq!(
            read("https://admin.hub.vn, https://hub.vn:8443").unwrap(),
            ["https://admin.hub.vn", "https://hub.vn:8443"]
        );
        assert_eq!(read("http://localhost:9000").unwrap(), ["http://localhost:9000"]);
        for bad in [
            "http://hub.vn",
            "https://hub.vn/admin",
            "https://hub.vn;script-src *",
            "*",
            "https://'self'",
            "https://h:80a",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert!(origins("HUB_ADMIN_ORIGINS", None).unwrap().is_empty());
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("TABLE_NAME", "t"),
        ("PUBLIC_BASE_URL", "https://c.example/"),
        ("HUB_API_URL", "http://hub"),
        ("HUB_SERVICE_TOKEN", "tok"),
        ("LOCAL_DATA_KEY", "k"),
    ];

    #[test]
    fn defaults_and_trimming() {
        let c = Config::from_lookup(env(BASE)).unwrap();
        assert_eq!(c.public_base_url.as_deref(), Some("https://c.example"));
        assert_eq!(c.nhanh_oauth_url, DEFAULT_NHANH_OAUTH_URL);
        assert_eq!(c.nhanh_api_url, DEFAULT_NHANH_API_URL);
        assert_eq!(c.reconcile_interval_secs, 60);
        assert!(!format!("{c:?}").contains("tok\""));
    }

    #[test]
    fn missing_and_invalid() {
        let mut pairs = BASE.to_vec();
        pairs.retain(|(k, _)| *k != "TABLE_NAME");
        assert!(matches!(Config::from_lookup(env(&pairs)), Err(ConfigError::Missing("TABLE_NAME"))));
        let mut pairs = BASE.to_vec();
        pairs.push(("RECONCILE_INTERVAL_SECS", "0"));
        assert!(Config::from_lookup(env(&pairs)).is_err());
        let mut pairs = BASE.to_vec();
        pairs.push(("HUB_API_URL", "hub.example"));
        assert!(Config::from_lookup(env(&pairs)).is_err(), "a set URL is still checked");
    }

    #[test]
    fn a_function_without_secrets_starts_and_asking_for_one_names_it() {
        // The reconcile function gets only TABLE_NAME and QUEUE_URL (least privilege).
        let c = Config::from_lookup(env(&[("TABLE_NAME", "t"), ("QUEUE_URL", "http://q")])).unwrap();
        assert!(matches!(c.require_hub_service_token(), Err(ConfigError::Missing("HUB_SERVICE_TOKEN"))));
        assert!(matches!(c.require_key_source(), Err(ConfigError::Missing(_))));
        assert_eq!(c.require_queue_url().ok(), Some("http://q"));
    }

    /// Issue 22: one secret per role. The cookie key and the status token are required by the
    /// connect function, long, and never another credential (before, the cookie key fell back to
    /// the Hub service token, and that token also opened every account's status).
    #[test]
    fn the_cookie_key_and_the_status_token_are_secrets_of_their_own() {
        let long = |c: char| c.to_string().repeat(40);
        let with = |vars: &[(&str, String)]| {
            let mut all: Vec<(String, String)> = vec![("TABLE_NAME".into(), "t".into())];
            all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            Config::from_lookup(|name| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())).unwrap()
        };
        let c = with(&[]);
        assert!(matches!(c.require_cookie_signing_key(), Err(ConfigError::Missing("COOKIE_SIGNING_KEY"))));
        assert!(matches!(c.require_status_api_token(), Err(ConfigError::Missing("STATUS_API_TOKEN"))));
        let reused = with(&[
            ("HUB_SERVICE_TOKEN", long('h')),
            ("COOKIE_SIGNING_KEY", long('h')),
            ("STATUS_API_TOKEN", long('h')),
        ]);
        assert!(matches!(reused.require_cookie_signing_key(), Err(ConfigError::Invalid("COOKIE_SIGNING_KEY", _))));
        assert!(matches!(reused.require_status_api_token(), Err(ConfigError::Invalid("STATUS_API_TOKEN", _))));
        let short = with(&[("COOKIE_SIGNING_KEY", "k".into()), ("STATUS_API_TOKEN", "s".into())]);
        assert!(short.require_cookie_signing_key().is_err() && short.require_status_api_token().is_err());
        let good = with(&[
            ("HUB_SERVICE_TOKEN", long('h')),
            ("COOKIE_SIGNING_KEY", long('c')),
            ("STATUS_API_TOKEN", long('s')),
        ]);
        assert!(good.require_cookie_signing_key().is_ok() && good.require_status_api_token().is_ok());
    }
}
