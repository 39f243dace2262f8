//! The connection's status document, built in one place for the Hub's status JSON and for the
//! merchant's page. It never contains a secret.

use crate::clock::utc_rfc3339_option;
use crate::domain::{
    AccountId, ApiVersion, AppId, BusinessId, Connection, ConnectionState, InitialSyncState, Stats, Stream,
    StreamCounters,
};
use crate::store::FailureRecord;
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What the status shows of a connection.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The Hub account.
    pub account_id: AccountId,
    /// The connection's state.
    pub state: ConnectionState,
    /// The Nhanh app.
    pub app_id: AppId,
    /// The Nhanh business.
    pub business_id: Option<BusinessId>,
    /// The API version the connection speaks.
    pub api_version: ApiVersion,
    /// When the connected period began.
    #[serde(with = "utc_rfc3339_option")]
    pub connected_at: Option<OffsetDateTime>,
    /// When it ended, if it did.
    #[serde(with = "utc_rfc3339_option")]
    pub disconnected_at: Option<OffsetDateTime>,
    /// Why it ended, when not by the admin (`app_uninstalled`).
    pub disconnect_reason: Option<String>,
    /// After a disconnect: until when the id maps, snapshots and intents are kept (issue 24).
    #[serde(with = "utc_rfc3339_option")]
    pub data_kept_until: Option<OffsetDateTime>,
    /// When Nhanh's access token expires (R12).
    #[serde(with = "utc_rfc3339_option")]
    pub token_expires_at: Option<OffsetDateTime>,
    /// Whether the token expires within 30 days (R12).
    pub token_warning: bool,
    /// Whole days until the token expires.
    pub token_days_left: Option<i64>,
    /// Webhook delivery.
    pub webhooks: WebhookStatus,
    /// The initial sync, once one started.
    pub initial_sync: Option<InitialSyncStatus>,
    /// Counters per stream: every record stream, and any other stream counted.
    pub streams: BTreeMap<&'static str, StreamStatus>,
    /// The most recent permanent failures, newest first.
    pub recent_failures: Vec<FailureRecord>,
    /// Records of this account in the dead-letter queue (retried until they gave up).
    pub dead_letters: Vec<crate::queue::dead_letters::DeadLetter>,
    /// Work of this account waiting to be applied (issue 23).
    pub waiting: Waiting,
    /// Nhanh rate locks running now (R9): calls to `path` wait until `until`, then go on.
    pub rate_locks: Vec<RateLockView>,
    /// The Hub outage under way, if any: records are parked until the Hub answers again.
    pub hub_outage: Option<HubOutageView>,
}

/// Work of an account waiting to be applied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Waiting {
    /// Order changes Nhanh announced, waiting in the backlog to be re-read.
    pub orders: usize,
    /// Records parked during a Hub outage.
    pub parked: usize,
}

/// A Nhanh rate lock running now.
#[derive(Debug, Clone, Serialize)]
pub struct RateLockView {
    /// The API path locked.
    pub path: String,
    /// When calls resume.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// The Hub outage under way.
#[derive(Debug, Clone, Serialize)]
pub struct HubOutageView {
    /// Since when the Hub has answered 5xx or nothing.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// Webhook delivery of a connection.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookStatus {
    /// The URL to paste on Nhanh.
    pub url: String,
    /// Whether Nhanh confirmed webhooks (`webhooksEnabled`).
    pub live: bool,
    /// The last event of any stream.
    #[serde(with = "utc_rfc3339_option")]
    pub last_event_at: Option<OffsetDateTime>,
    /// When Nhanh last sent `webhooksEnabled`.
    #[serde(with = "utc_rfc3339_option")]
    pub enabled_at: Option<OffsetDateTime>,
}

/// Progress of the initial sync.
#[derive(Debug, Clone, Serialize)]
pub struct InitialSyncStatus {
    /// Running or done.
    pub state: InitialSyncState,
    /// Units done.
    pub done: u64,
    /// Units in all, when the API version tells it.
    pub total: Option<u64>,
    /// What `done` and `total` count.
    pub unit: &'static str,
    /// Seconds left at the rate so far (since the connected period began), while it runs and
    /// the total is known.
    pub eta_secs: Option<u64>,
    /// Units done per minute so far, while it runs (v3 tells no total: the rate shows progress).
    pub per_minute: Option<u64>,
}

/// The counters of one stream.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    /// Changes applied to the other side.
    pub applied: u64,
    /// Events dropped by rule (R3).
    pub dropped: u64,
    /// Changes that failed permanently.
    pub failed: u64,
    /// Events of kinds the connector does not sync.
    pub ignored: u64,
    /// When the last change was applied.
    #[serde(with = "utc_rfc3339_option")]
    pub last_applied_at: Option<OffsetDateTime>,
    /// When the last event arrived.
    #[serde(with = "utc_rfc3339_option")]
    pub last_event_at: Option<OffsetDateTime>,
}

impl From<&StreamCounters> for StreamStatus {
    fn from(c: &StreamCounters) -> Self {
        Self {
            applied: c.applied,
            dropped: c.dropped,
            failed: c.failed,
            ignored: c.ignored,
            last_applied_at: c.last_applied_at,
            last_event_at: c.last_event_at,
        }
    }
}

impl Status {
    /// Builds the status of `conn` from its counters and error log, at `now`.
    pub fn build(
        conn: &Connection,
        stats: &Stats,
        failures: Vec<FailureRecord>,
        webhook_url: String,
        now: OffsetDateTime,
    ) -> Self {
        let counters = |s: Stream| stats.streams.get(s.as_str()).cloned().unwrap_or_default();
        let mut streams: BTreeMap<&'static str, StreamStatus> =
            Stream::RECORDS.iter().map(|s| (s.as_str(), StreamStatus::from(&counters(*s)))).collect();
        for s in [Stream::Webhooks, Stream::HubEvents, Stream::Reconcile] {
            if stats.streams.contains_key(s.as_str()) {
                streams.insert(s.as_str(), StreamStatus::from(&counters(s)));
            }
        }
        let products_done = counters(Stream::InitialSync).applied;
        let initial_sync = conn.initial_sync.as_ref().map(|s| {
            let running = s.state == InitialSyncState::Running;
            let done = if running { products_done } else { s.done.max(products_done) };
            let elapsed = conn.connected_at.map(|c| (now - c).whole_seconds()).and_then(|e| u64::try_from(e).ok());
            let eta_secs = match (running, s.total, elapsed) {
                (true, Some(total), Some(elapsed)) if done > 0 && total > done => {
                    Some(elapsed.saturating_mul(total - done) / done)
                }
                _ => None,
            };
            let per_minute = match (running, elapsed) {
                (true, Some(elapsed)) if elapsed > 0 => Some(done.saturating_mul(60) / elapsed),
                _ => None,
            };
            InitialSyncStatus { state: s.state, done, total: s.total, unit: "products", eta_secs, per_minute }
        });
        Self {
            account_id: conn.account_id.clone(),
            state: conn.state,
            app_id: conn.app_id,
            business_id: conn.business_id,
            api_version: conn.api_version,
            connected_at: conn.connected_at,
            disconnected_at: conn.disconnected_at,
            disconnect_reason: conn.disconnect_reason.clone(),
            data_kept_until: conn.data_kept_until,
            token_expires_at: conn.token_expires_at,
            token_warning: conn.token_warning(now),
            token_days_left: conn.token_expires_at.map(|exp| (exp - now).whole_days()),
            webhooks: WebhookStatus {
                url: webhook_url,
                live: stats.webhooks_live,
                enabled_at: stats.webhooks_enabled_at,
                last_event_at: stats.streams.values().filter_map(|s| s.last_event_at).max(),
            },
            initial_sync,
            streams,
            recent_failures: failures,
            dead_letters: Vec::new(),
            waiting: Waiting::default(),
            rate_locks: Vec::new(),
            hub_outage: None,
        }
    }
}
