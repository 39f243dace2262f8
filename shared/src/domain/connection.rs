//! The connection of one Hub account to one Nhanh business, and its life cycle.

use super::ids::{AccountId, AppId, BusinessId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Where a connection is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// An admin started the connect flow; no token yet.
    Pending,
    /// Connected; the initial sync (R10) is due or running. Webhooks are accepted.
    Syncing,
    /// Connected and in step.
    Active,
    /// Nhanh refused the token (`ERR_INVALID_ACCESS_TOKEN`): sync paused, events kept (R12).
    NeedsReauth,
    /// The admin disconnected; nothing is synced until a new connected period starts (R3).
    Disconnected,
}

impl ConnectionState {
    /// Whether the connection holds a business (the R1 claim is held).
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Syncing | Self::Active | Self::NeedsReauth)
    }
    /// The state as its snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Syncing => "syncing",
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Disconnected => "disconnected",
        }
    }
    /// The state of its snake_case name (`None`: not a state).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Syncing, Self::Active, Self::NeedsReauth, Self::Disconnected]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A depot (store, warehouse) of a Nhanh business: what the connect confirmation names the
/// business by (Nhanh documents no call that names the business itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Depot {
    /// Nhanh's depot id.
    pub id: u64,
    /// Its name as the merchant wrote it (`Kho Hà Nội`).
    pub name: String,
}

/// Which Nhanh API version a connection's token belongs to (tokens are version-bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiVersion {
    /// Nhanh Open API v2.0.
    #[serde(rename = "2.0")]
    V2,
    /// Nhanh Open API v3.0.
    #[serde(rename = "3.0")]
    V3,
}

impl ApiVersion {
    /// The version as Nhanh writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "2.0",
            Self::V3 => "3.0",
        }
    }
}

/// Progress of the initial sync (R10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialSyncState {
    /// Marked as due by the connect callback; the pass starts it.
    Due,
    /// Work items are queued or being applied.
    Running,
    /// Finished.
    Done,
}

/// The initial sync's state and progress in work items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialSync {
    /// Where it is.
    pub state: InitialSyncState,
    /// Work items applied.
    pub done: u64,
    /// Work items planned, once known.
    pub total: Option<u64>,
}

/// Counters of one synced stream, shown on the status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCounters {
    /// Changes applied to the other side.
    pub applied: u64,
    /// Events dropped by rule (R3: outside the connected period).
    pub dropped: u64,
    /// Changes that failed permanently (recorded with their reason).
    pub failed: u64,
    /// Events of kinds the product does not sync.
    pub ignored: u64,
    /// When the last change was applied.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_applied_at: Option<OffsetDateTime>,
    /// When the last event of this stream arrived.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_event_at: Option<OffsetDateTime>,
}

/// Per-stream counters keyed by stream name (`products`, `product_groups`, `orders`, `customers`).
pub type Streams = BTreeMap<String, StreamCounters>;

/// What the status shows besides the connection record: counters and webhook liveness. Kept in
/// separate items so the hot paths add to them atomically without rewriting the connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Per-stream counters.
    pub streams: Streams,
    /// Whether Nhanh confirmed webhooks (`webhooksEnabled`).
    pub webhooks_live: bool,
    /// When the last `webhooksEnabled` arrived.
    pub webhooks_enabled_at: Option<OffsetDateTime>,
}

/// A counter of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A change applied.
    Applied,
    /// An event dropped by rule (R3).
    Dropped,
    /// A change that failed permanently.
    Failed,
    /// An event of a kind not synced.
    Ignored,
    /// An event accepted for processing (only `last_event_at` moves).
    Received,
}

impl Counter {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Dropped => "dropped",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
            Self::Received => "received",
        }
    }
}

/// The connection record of one Hub account. Secrets are stored sealed (see `secrets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// The Hub account.
    pub account_id: AccountId,
    /// Life-cycle state.
    pub state: ConnectionState,
    /// The Nhanh app used to connect.
    pub app_id: AppId,
    /// The Nhanh business (set once connected).
    pub business_id: Option<BusinessId>,
    /// The API version the token belongs to.
    pub api_version: ApiVersion,
    /// The app's Secret Key, sealed.
    pub secret_key_sealed: String,
    /// The access token, sealed.
    pub access_token_sealed: Option<String>,
    /// The webhooks verify token, sealed.
    pub verify_token_sealed: Option<String>,
    /// When the access token expires.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub token_expires_at: Option<OffsetDateTime>,
    /// Depots granted (empty = all).
    #[serde(default)]
    pub depot_ids: Vec<u64>,
    /// Permissions granted, as Nhanh gave them.
    #[serde(default)]
    pub permissions: Vec<crate::nhanh::Permission>,
    /// Start of the current connected period (R3).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub connected_at: Option<OffsetDateTime>,
    /// End of the last connected period.
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub disconnected_at: Option<OffsetDateTime>,
    /// Why the last connected period ended, when not by the admin (`app_uninstalled`: the merchant
    /// removed the app in Nhanh, R15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_reason: Option<String>,
    /// Until when the id maps, snapshots and intents of a disconnected account are kept (issue
    /// 24): set by a disconnect, cleared by the next connect.
    #[serde(with = "time::serde::rfc3339::option", default, skip_serializing_if = "Option::is_none")]
    pub data_kept_until: Option<OffsetDateTime>,
    /// Initial sync progress (R10).
    pub initial_sync: Option<InitialSync>,
    /// Optimistic-concurrency version; bumped on every write.
    #[serde(default)]
    pub version: u64,
}

impl Connection {
    /// Days before expiry from which the status warns (R12).
    pub const TOKEN_WARNING_DAYS: i64 = 30;

    /// Whether the token expires within [`Self::TOKEN_WARNING_DAYS`] of `now` (or already has).
    pub fn token_warning(&self, now: OffsetDateTime) -> bool {
        self.state.is_connected()
            && self.token_expires_at.is_some_and(|exp| exp - now <= time::Duration::days(Self::TOKEN_WARNING_DAYS))
    }

    /// Whether the initial sync is due or running (R4 freezes App Id and Secret Key then).
    pub fn initial_sync_running(&self) -> bool {
        self.state == ConnectionState::Syncing
            && self.initial_sync.as_ref().is_some_and(|s| s.state != InitialSyncState::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(state: ConnectionState, expires_in_days: i64, now: OffsetDateTime) -> Connection {
        Connection {
            account_id: AccountId::parse("1").unwrap(),
            state,
            app_id: AppId::new(1).unwrap(),
            business_id: BusinessId::new(2),
            api_version: ApiVersion::V2,
            secret_key_sealed: String::new(),
            access_token_sealed: None,
            verify_token_sealed: None,
            token_expires_at: Some(now + time::Duration::days(expires_in_days)),
            depot_ids: vec![],
            permissions: vec![],
            connected_at: Some(now),
            disconnected_at: None,
            disconnect_reason: None,
            data_kept_until: None,
            initial_sync: None,
            version: 0,
        }
    }

    #[test]
    fn token_warning_from_thirty_days() {
        let now = OffsetDateTime::now_utc();
        assert!(!conn(ConnectionState::Active, 31, now).token_warning(now));
        assert!(conn(ConnectionState::Active, 30, now).token_warning(now));
        assert!(conn(ConnectionState::Active, -1, now).token_warning(now));
        assert!(!conn(ConnectionState::Disconnected, 1, now).token_warning(now));
    }

    #[test]
    fn api_version_serialises_as_nhanh_writes_it() {
        assert_eq!(serde_json::to_string(&ApiVersion::V2).unwrap(), "\"2.0\"");
    }
}
