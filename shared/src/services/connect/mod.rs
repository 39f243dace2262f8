//! The connect use cases: check the admin (R2), start the consent, complete it (exchange, probe
//! the streams, R1 claim, store), disconnect (R3), and the status for the Hub.

use crate::clock::Clock;
use crate::domain::{AccountId, AppId, Connection};
use crate::hub::{HubApi, HubSession};
use crate::nhanh::{NhanhApi, NEW_CONNECTION_VERSION};
use crate::secrets::{seal_context, SealedField, SecretBox, SecretString};
use crate::services::status::Status;
use crate::store::{ConnectionStore, FailureLog, PendingAttempt, PendingStore, StatsStore, StoreError};
use crate::Error;
use std::sync::Arc;
use time::Duration;

mod actions;
mod callback;
mod end;
mod probe;
mod waiting;

pub use actions::{ActionOutcome, PASS_NOW_INTERVAL};
pub use callback::Confirmation;
pub use end::{end_connection, queue_data_expiry, queue_data_keep, APP_UNINSTALLED, DEFAULT_DATA_RETENTION};
pub use probe::PROBED_STREAMS;

/// How long a started attempt waits for Nhanh's redirect (the access code's own lifetime).
pub const PENDING_TTL: Duration = Duration::minutes(10);
/// Longest Secret Key accepted.
const MAX_SECRET_LEN: usize = 512;

/// Why a connect step was refused. Every variant maps to a 4xx page except [`ConnectError::Upstream`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The Hub did not accept the session token.
    #[error("the Hub session is not valid")]
    SessionInvalid,
    /// The CSRF token is missing or wrong.
    #[error("the form's CSRF token is not valid")]
    Csrf,
    /// The session is valid but not an admin of this account (R2).
    #[error("only an admin of this account may connect")]
    NotAdmin,
    /// A form field is missing or malformed.
    #[error("{0}")]
    Invalid(String),
    /// R4: App Id / Secret Key cannot change while the initial sync runs.
    #[error("connection details are frozen while the initial sync runs")]
    Frozen,
    /// The callback came without a matching pending attempt.
    #[error("no pending connect attempt")]
    NoPendingAttempt,
    /// The callback or its confirmation came from another admin than the one who started it.
    #[error("the connect attempt was started by another admin")]
    NotAttemptOwner,
    /// Nhanh refused the access code exchange (expired, used, or wrong Secret Key).
    #[error("Nhanh refused the access code: {0}")]
    CodeRejected(String),
    /// R2: the token cannot read these streams.
    #[error("the token cannot read: {}", .0.join(", "))]
    StreamsDenied(Vec<&'static str>),
    /// R1: the business is connected to another Hub account.
    #[error("the Nhanh business is already connected to another account")]
    BusinessTaken,
    /// R1: this account is connected to another business.
    #[error("the account is connected to another Nhanh business")]
    OtherBusinessConnected,
    /// Disconnect of an account that is not connected.
    #[error("the account is not connected")]
    NotConnected,
    /// Nhanh, the Hub or storage failed; nothing was written. Retry.
    #[error(transparent)]
    Upstream(#[from] Error),
}

impl crate::retry::WrittenMeanwhile for ConnectError {
    fn written_meanwhile(&self) -> bool {
        matches!(self, Self::Upstream(Error::Store(StoreError::Conflict)))
    }
}

impl From<StoreError> for ConnectError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BusinessTaken => Self::BusinessTaken,
            e => Self::Upstream(e.into()),
        }
    }
}

/// URLs the flow builds (Nhanh's consent URL is the adapter's).
#[derive(Debug, Clone)]
pub struct Urls {
    /// `PUBLIC_BASE_URL`.
    pub public_base_url: String,
}

impl Urls {
    /// The Redirect URL of (app, account) registered on Nhanh.
    pub fn callback(&self, app: &str, account: &AccountId) -> String {
        format!("{}/nhanhvn/connect/callback/{app}/{}", self.public_base_url, account.as_str())
    }
    /// The webhook URL of an app.
    pub fn webhook(&self, app: AppId) -> String {
        format!("{}/nhanhvn/hook/{app}", self.public_base_url)
    }
}

/// What the connected page needs (the verify token is opened for the admin only).
#[derive(Debug, Clone)]
pub struct ConnectedView {
    /// The connection.
    pub connection: Connection,
    /// The webhook URL.
    pub webhook_url: String,
    /// The verify token to paste into Nhanh.
    pub verify_token: SecretString,
}

/// The ports the connect flow uses.
#[derive(Clone)]
pub struct ConnectService {
    /// Connections.
    pub connections: Arc<dyn ConnectionStore>,
    /// Pending attempts.
    pub pending: Arc<dyn PendingStore>,
    /// Status counters.
    pub stats: Arc<dyn StatsStore>,
    /// The per-record error log.
    pub failures: Arc<dyn FailureLog>,
    /// The work queue: a new connection queues its first scheduled pass at once, which starts
    /// the initial sync (R10) without waiting for the next tick. `None` leaves it to the schedule.
    pub queue: Option<Arc<dyn crate::queue::WorkQueue>>,
    /// The dead-letter queue, read per account for the page and the status (none: not shown).
    pub dead_letters: Option<Arc<dyn crate::queue::dead_letters::DeadLetters>>,
    /// The order changes waiting to be re-read (the page's backlog).
    pub backlog: Arc<dyn crate::store::OrderBacklog>,
    /// The Hub outage and the records parked during it.
    pub outages: Arc<dyn crate::store::OutageStore>,
    /// Cursors (when the merchant last ran a pass by hand).
    pub cursors: Arc<dyn crate::store::CursorStore>,
    /// Nhanh.
    pub nhanh: Arc<dyn NhanhApi>,
    /// The Hub.
    pub hub: Arc<dyn HubApi>,
    /// The secret box.
    pub secrets: Arc<dyn SecretBox>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// URLs.
    pub urls: Urls,
    /// How long a disconnected account's id maps, snapshots and intents are kept.
    pub data_retention: time::Duration,
    /// Every connection's state (the operators' fleet view).
    pub fleet: Arc<dyn crate::store::FleetStore>,
}

impl ConnectService {
    /// Checks a Hub session token: it must be an admin of `account` (R2).
    pub async fn admin_session(&self, account: &AccountId, token: &SecretString) -> Result<HubSession, ConnectError> {
        let session =
            self.hub.current_session(token).await.map_err(Error::from)?.ok_or(ConnectError::SessionInvalid)?;
        if session.expires_at.is_some_and(|exp| exp <= self.clock.now()) {
            return Err(ConnectError::SessionInvalid);
        }
        if !session.is_admin_of(account) {
            return Err(ConnectError::NotAdmin);
        }
        Ok(session)
    }

    /// Stores a pending attempt and returns Nhanh's consent URL.
    pub async fn begin(
        &self,
        account: &AccountId,
        user_id: &str,
        app_raw: &str,
        secret_raw: &str,
    ) -> Result<String, ConnectError> {
        let app =
            AppId::parse(app_raw).map_err(|_| ConnectError::Invalid("App Id phải là một số nguyên dương.".into()))?;
        let secret = secret_raw.trim();
        if secret.is_empty() || secret.len() > MAX_SECRET_LEN || secret.chars().any(char::is_control) {
            return Err(ConnectError::Invalid("Secret Key không hợp lệ.".into()));
        }
        let secret = SecretString::new(secret);
        let context = seal_context(account, SealedField::SecretKey);
        if let Some(existing) = self.connections.get(account).await? {
            if existing.initial_sync_running() {
                let same_secret = self
                    .secrets
                    .open(&existing.secret_key_sealed, &context)
                    .await
                    .map_err(Error::from)?
                    .ct_eq(secret.expose());
                if existing.app_id != app || !same_secret {
                    return Err(ConnectError::Frozen);
                }
            }
        }
        let sealed = self.secrets.seal(&secret, &context).await.map_err(Error::from)?;
        let attempt = PendingAttempt {
            account_id: account.clone(),
            app_id: app,
            secret_key_sealed: sealed,
            user_id: user_id.to_owned(),
            expires_at: self.clock.now() + PENDING_TTL,
            exchange: None,
        };
        self.pending.put_pending(&attempt).await?;
        tracing::info!(account_id = account.as_str(), app_id = app.get(), "connect attempt started");
        let return_link = self.urls.callback(&app.to_string(), account);
        // Every consent, a first one or a v2 connection moving on, is for the current version (R15).
        Ok(self.nhanh.consent_url(NEW_CONNECTION_VERSION, app, &return_link))
    }

    /// The connected page of an account, if it is connected.
    pub async fn connected_view(&self, account: &AccountId) -> Result<Option<ConnectedView>, ConnectError> {
        let Some(conn) = self.connections.get(account).await?.filter(|c| c.state.is_connected()) else {
            return Ok(None);
        };
        let Some(sealed) = conn.verify_token_sealed.as_deref() else { return Ok(None) };
        let verify_token =
            self.secrets.open(sealed, &seal_context(account, SealedField::VerifyToken)).await.map_err(Error::from)?;
        Ok(Some(ConnectedView { webhook_url: self.urls.webhook(conn.app_id), verify_token, connection: conn }))
    }

    /// The fleet view for the Hub's operators (see [`crate::services::fleet`]).
    pub async fn fleet(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<crate::services::fleet::FleetView, ConnectError> {
        let letters = self.dead_letters.as_deref();
        let view = crate::services::fleet::fleet_view(
            self.fleet.as_ref(),
            self.stats.as_ref(),
            letters,
            after,
            limit,
            self.clock.now(),
        )
        .await?;
        Ok(view)
    }

    /// The account's connection, if any.
    pub async fn connection(&self, account: &AccountId) -> Result<Option<Connection>, ConnectError> {
        Ok(self.connections.get(account).await?)
    }

    /// Disconnects: state `disconnected`, `disconnected_at` set, the R1 claim released, the access
    /// token forgotten. The verify token stays so late webhooks are recognised and dropped (R3).
    pub async fn disconnect(&self, account: &AccountId) -> Result<Connection, ConnectError> {
        let ended =
            end_connection(self.connections.as_ref(), self.clock.as_ref(), account, None, self.data_retention).await?;
        if let Some(queue) = &self.queue {
            queue_data_expiry(queue.as_ref(), &ended).await;
        }
        Ok(ended)
    }

    /// The status of the account's connection (`None`: it never connected), read from the
    /// connection, its counters and its error log: the one source of the status JSON and the page.
    pub async fn status(&self, account: &AccountId) -> Result<Option<Status>, ConnectError> {
        let now = self.clock.now();
        let Some(conn) = self.connections.get(account).await? else { return Ok(None) };
        let (stats, failures) =
            futures::future::try_join(self.stats.stats(account), self.failures.recent_failures(account, 20)).await?;
        let url = self.urls.webhook(conn.app_id);
        let mut status = Status::build(&conn, &stats, failures, url, now);
        self.add_waiting(&conn, &mut status, now).await;
        if let Some(dead_letters) = &self.dead_letters {
            // The status still answers when the dead-letter queue cannot be read.
            match dead_letters.of_account(account, 20).await {
                Ok(letters) => status.dead_letters = letters,
                Err(e) => tracing::warn!(account_id = account.as_str(), error = %e, "dead letters not read"),
            }
        }
        Ok(Some(status))
    }
}
