//! The connector's own secrets (the Hub service token, the Hub webhook secret, the admin-cookie
//! key, the status token), kept in AWS Secrets Manager instead of plain Lambda environment
//! (issue 22). A function's environment names each secret it needs by id (`{NAME}_SECRET_ID`,
//! the secret's ARN); the value is read once per cold start and cached. A rotation is a new
//! version of the secret (`put-secret-value`): instances started after it read the new value, and
//! intake accepts the Hub webhook secret's current and previous versions, reading them again when a
//! signature matches neither (at most once per [`MIN_REREAD`]), so the Hub may switch at once.
//!
//! Without `{NAME}_SECRET_ID` the value comes from `{NAME}` itself (the local stack's plain mode and
//! `cargo lambda invoke`), fixed for the life of the process.

use super::{SecretError, SecretString};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The least time between two reads forced by a value that matched nothing: a caller with a wrong
/// signature cannot turn each of its requests into a Secrets Manager call.
pub const MIN_REREAD: Duration = Duration::from_secs(10);

/// A version of a secret, by its Secrets Manager staging label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `AWSCURRENT`.
    Current,
    /// `AWSPREVIOUS`: the version a rotation replaced.
    Previous,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Self::Current => "AWSCURRENT",
            Self::Previous => "AWSPREVIOUS",
        }
    }
}

/// Where managed secrets are read.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The value of secret `id` at `stage`; `None` when that version does not exist (a secret never
    /// rotated has no previous version).
    async fn read(&self, id: &str, stage: Stage) -> Result<Option<SecretString>, SecretError>;
}

/// [`SecretSource`] over AWS Secrets Manager (`GetSecretValue`).
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerSource {
    /// A source whose client is built from the SDK configuration.
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_secretsmanager::Client::new(sdk) }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn read(&self, id: &str, stage: Stage) -> Result<Option<SecretString>, SecretError> {
        match self.client.get_secret_value().secret_id(id).version_stage(stage.label()).send().await {
            Ok(out) => Ok(out.secret_string.map(SecretString::new)),
            Err(e) => {
                let e = e.into_service_error();
                if stage == Stage::Previous && e.is_resource_not_found_exception() {
                    Ok(None)
                } else {
                    Err(SecretError::Unavailable(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))
                }
            }
        }
    }
}

/// The values read of one secret, and when.
struct Read {
    current: SecretString,
    previous: Option<SecretString>,
    at: Instant,
}

/// One secret of the connector: fixed (from the environment) or read from a [`SecretSource`] on
/// first use and cached. Its `Debug` names it, never its value.
pub struct ManagedSecret {
    name: &'static str,
    origin: Origin,
    read: Mutex<Option<Read>>,
    min_reread: Duration,
}

enum Origin {
    Fixed(SecretString),
    Source { id: String, source: Arc<dyn SecretSource>, with_previous: bool },
}

impl std::fmt::Debug for ManagedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedSecret").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ManagedSecret {
    /// A value given in the environment variable `name`.
    pub fn fixed(name: &'static str, value: SecretString) -> Self {
        Self { name, origin: Origin::Fixed(value), read: Mutex::new(None), min_reread: MIN_REREAD }
    }

    /// The secret `id` of `source`; with `with_previous`, its previous version is accepted too.
    pub fn from_source(name: &'static str, id: String, source: Arc<dyn SecretSource>, with_previous: bool) -> Self {
        Self {
            name,
            origin: Origin::Source { id, source, with_previous },
            read: Mutex::new(None),
            min_reread: MIN_REREAD,
        }
    }

    /// The same secret read again after a mismatch once `interval` has passed (default
    /// [`MIN_REREAD`]; tests shorten it rather than wait).
    pub fn with_min_reread(mut self, interval: Duration) -> Self {
        self.min_reread = interval;
        self
    }

    /// The environment variable the secret is configured by.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The current value (read on first use, then cached).
    pub async fn current(&self) -> Result<SecretString, SecretError> {
        Ok(self.accepted().await?.swap_remove(0))
    }

    /// Every value accepted now, the current one first, then the previous version when this
    /// secret accepts it and it exists.
    pub async fn accepted(&self) -> Result<Vec<SecretString>, SecretError> {
        let (id, source, with_previous) = match &self.origin {
            Origin::Fixed(value) => return Ok(vec![value.clone()]),
            Origin::Source { id, source, with_previous } => (id, source, *with_previous),
        };
        let mut read = self.read.lock().await;
        if read.is_none() {
            *read = Some(self.read_now(id, source.as_ref(), with_previous).await?);
        }
        Ok(read
            .as_ref()
            .map(|r| [Some(r.current.clone()), r.previous.clone()].into_iter().flatten().collect())
            .unwrap_or_default())
    }

    /// Reads the secret again unless it was read less than [`MIN_REREAD`] ago (a value that
    /// matched nothing may be one rotated in since); whether it read.
    pub async fn reread(&self) -> Result<bool, SecretError> {
        let Origin::Source { id, source, with_previous } = &self.origin else { return Ok(false) };
        let mut read = self.read.lock().await;
        if read.as_ref().is_some_and(|r| r.at.elapsed() < self.min_reread) {
            return Ok(false);
        }
        *read = Some(self.read_now(id, source.as_ref(), *with_previous).await?);
        tracing::info!(secret = self.name, "secret read again");
        Ok(true)
    }

    async fn read_now(&self, id: &str, source: &dyn SecretSource, with_previous: bool) -> Result<Read, SecretError> {
        let previous = async {
            if with_previous {
                source.read(id, Stage::Previous).await
            } else {
                Ok(None)
            }
        };
        let (current, previous) = futures::future::try_join(source.read(id, Stage::Current), previous).await?;
        let current = current
            .filter(|v| !v.expose().trim().is_empty())
            .ok_or(SecretError::Corrupt("the secret's current version holds no text"))?;
        let previous = previous.filter(|v| !v.expose().trim().is_empty());
        Ok(Read { current, previous, at: Instant::now() })
    }
}

/// Builds the secret configured by `name`: from Secrets Manager when `{name}_SECRET_ID` is set,
/// else from `{name}` itself; `None` when neither is. `source` is called only for the former.
pub fn configured(
    name: &'static str,
    get: impl Fn(&str) -> Option<String>,
    source: impl FnOnce() -> Arc<dyn SecretSource>,
    with_previous: bool,
) -> Option<ManagedSecret> {
    let get = |n: &str| get(n).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match (get(&format!("{name}_SECRET_ID")), get(name)) {
        (Some(id), _) => Some(ManagedSecret::from_source(name, id, source(), with_previous)),
        (None, Some(value)) => Some(ManagedSecret::fixed(name, SecretString::new(value))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RotatingSecretSource as Versions;
    use std::sync::atomic::Ordering;

    fn texts(values: &[SecretString]) -> Vec<&str> {
        values.iter().map(SecretString::expose).collect()
    }

    #[tokio::test]
    async fn read_once_then_both_versions_through_a_rotation_and_a_bounded_reread() {
        let source = Arc::new(Versions::default());
        source.rotate("s1");
        let secret = ManagedSecret::from_source("HUB_WEBHOOK_SECRET", "arn:s".into(), source.clone(), true);
        assert_eq!(texts(&secret.accepted().await.unwrap()), ["s1"], "never rotated: no previous version");
        assert_eq!(secret.current().await.unwrap().expose(), "s1");
        assert_eq!(source.reads.load(Ordering::SeqCst), 2, "one read of each stage, then the cache");
        source.rotate("s2");
        assert_eq!(texts(&secret.accepted().await.unwrap()), ["s1"], "cached until a mismatch asks again");
        assert!(!secret.reread().await.unwrap(), "read less than MIN_REREAD ago: not again");
        let secret = secret.with_min_reread(Duration::ZERO); // as if MIN_REREAD had passed
        assert!(secret.reread().await.unwrap());
        assert_eq!(texts(&secret.accepted().await.unwrap()), ["s2", "s1"], "during a rotation both are accepted");
        source.rotate("s3");
        secret.reread().await.unwrap();
        assert_eq!(texts(&secret.accepted().await.unwrap()), ["s3", "s2"], "the oldest is no longer accepted");
    }

    #[tokio::test]
    async fn configured_by_id_or_by_value_and_an_empty_secret_is_refused() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        };
        let source = Arc::new(Versions::default());
        let by_id = configured("X", env(&[("X_SECRET_ID", "arn:x"), ("X", "plain")]), || source.clone(), false);
        assert!(matches!(by_id.as_ref().map(|s| &s.origin), Some(Origin::Source { .. })), "the id wins");
        assert!(matches!(by_id.unwrap().current().await, Err(SecretError::Corrupt(_))), "no version: refused");
        let by_value = configured("X", env(&[("X", "plain")]), || source.clone(), false).unwrap();
        assert_eq!(by_value.current().await.unwrap().expose(), "plain");
        assert!(configured("X", env(&[("X_SECRET_ID", " ")]), || source.clone(), false).is_none());
        assert!(!format!("{by_value:?}").contains("plain"), "Debug names it only");
    }
}
