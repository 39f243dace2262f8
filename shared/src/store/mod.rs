//! Storage ports, each sized to one capability, with a DynamoDB adapter ([`dynamo::DynamoStore`])
//! and an in-memory fake ([`memory::MemoryStore`]) that behaves the same (conditions included).

mod account_data;
mod dead_letters;
pub mod dynamo;
pub mod erasure;
mod fleet;
pub mod memory;
mod order_backlog;
mod outage;
mod pending;

pub use account_data::{AccountDataStore, DataPage};
pub use dead_letters::{DeadLetterStore, StoredDeadLetter};
pub use erasure::{Erased, ErasureStore};
pub use fleet::FleetStore;
pub use order_backlog::{Backlog, BacklogKey, OrderBacklog, WaitingOrder};
pub use outage::{HubOutage, OutageStore, ParkedRecord};
pub use pending::{ExchangedGrant, PendingAttempt, PendingStore};

use crate::domain::{AccountId, AppId, BusinessId, Connection, Counter, HubId, NhanhBusiness, Stats, Stream};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote the record first (optimistic version check): reload and retry.
    #[error("the record changed concurrently")]
    Conflict,
    /// R1: the business is connected to another Hub account.
    #[error("the Nhanh business is already connected to another account")]
    BusinessTaken,
    /// DynamoDB (or the network) failed: retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A stored record does not decode.
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict | Self::Unavailable(_))
    }
}

/// Connections, the R1 business claim and the webhook route (app, business) → account.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// The account's connection.
    async fn get(&self, account: &AccountId) -> Result<Option<Connection>, StoreError>;
    /// Writes `conn` if the stored version is still `conn.version` (0 = absent); returns it with the
    /// new version.
    async fn put(&self, conn: &Connection) -> Result<Connection, StoreError>;
    /// Like [`ConnectionStore::put`], and in the same transaction claims `conn.business_id` for this
    /// account (R1: refused with [`StoreError::BusinessTaken`] if another account holds it) and
    /// routes webhooks of (app, business) to it. `previous_app`: the app the account connected
    /// through before, when it differs; its route of the business is removed in the same
    /// transaction, so the old app's webhooks stop reaching the account (issue 21).
    async fn put_claiming(&self, conn: &Connection, previous_app: Option<AppId>) -> Result<Connection, StoreError>;
    /// Like [`ConnectionStore::put`], and in the same transaction releases the claim on `business`.
    async fn put_releasing(&self, conn: &Connection, business: BusinessId) -> Result<Connection, StoreError>;
    /// The connection webhooks of (app, business) belong to, as its route holds it: one read per
    /// webhook. The route keeps a copy of the connection, written in the same transaction as the
    /// connection while it holds the business (syncing, active, needs_reauth) and once more when
    /// it releases it, so the copy is current whenever webhooks of the business are accepted.
    async fn route(&self, app: AppId, business: BusinessId) -> Result<Option<Connection>, StoreError>;
    /// Every account that ever connected through `app` (v3's `webhooksEnabled` probe names no
    /// business: intake finds the account whose verify token it carries).
    async fn accounts_of_app(&self, app: AppId) -> Result<Vec<AccountId>, StoreError>;
    /// One page of the accounts whose connection holds a business (syncing, active, needs_reauth);
    /// pass the returned cursor to get the next page (`None` at the end).
    async fn connected_accounts(&self, cursor: Option<String>) -> Result<(Vec<AccountId>, Option<String>), StoreError>;
    /// The account's connection and, in the same read (one `BatchGetItem` in DynamoDB), the Nhanh
    /// rate-limit locks of `business` running at `now`, so the processor's first Nhanh call needs
    /// no read of its own (see [`crate::nhanh::gate::CallGate::prime`]). `None` for the locks:
    /// this store did not read them (the gate then does).
    async fn get_with_rate_locks(
        &self,
        account: &AccountId,
        business: NhanhBusiness,
        now: OffsetDateTime,
    ) -> Result<(Option<Connection>, Option<RateLockSnapshot>), StoreError> {
        let _ = (business, now);
        Ok((self.get(account).await?, None))
    }
}

/// The Nhanh rate-limit locks of one business running at one instant: (API path, locked until).
pub type RateLockSnapshot = Vec<(String, OffsetDateTime)>;

/// Kinds of records whose ids are mapped between Nhanh and the Hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// Product groups (Nhanh categories).
    ProductGroup,
    /// Products.
    Product,
    /// Customers (Nhanh side keyed by id or `P#{phone}`).
    Customer,
    /// Orders.
    Order,
    /// Retail bills (R14), whose Hub records are orders coded `HD{id}`.
    Bill,
}

impl Entity {
    /// The entity's name in keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductGroup => "product_group",
            Self::Product => "product",
            Self::Customer => "customer",
            Self::Order => "order",
            Self::Bill => "bill",
        }
    }
}

/// Id maps Nhanh ⇄ Hub, both directions.
#[async_trait]
pub trait IdMapStore: Send + Sync {
    /// The Hub id mapped to a Nhanh key.
    async fn hub_id(&self, account: &AccountId, entity: Entity, nhanh_key: &str) -> Result<Option<HubId>, StoreError>;
    /// The Nhanh key mapped to a Hub id.
    async fn nhanh_key(&self, account: &AccountId, entity: Entity, hub: &HubId) -> Result<Option<String>, StoreError>;
    /// Records the pair in both directions (the Nhanh → Hub entry last, so it implies the other).
    async fn link(&self, account: &AccountId, entity: Entity, nhanh_key: &str, hub: &HubId) -> Result<(), StoreError>;
    /// The Hub ids mapped to several Nhanh keys (keys without a map are absent from the answer).
    async fn hub_ids(
        &self,
        account: &AccountId,
        entity: Entity,
        nhanh_keys: &[String],
    ) -> Result<HashMap<String, HubId>, StoreError> {
        let mut found = HashMap::new();
        for key in nhanh_keys {
            if let Some(id) = self.hub_id(account, entity, key).await? {
                found.insert(key.clone(), id);
            }
        }
        Ok(found)
    }
    /// The Hub ids of keys of several entities at once (one read for an order's own map and its
    /// lines' products); keys without a map are absent from the answer.
    async fn hub_ids_of(
        &self,
        account: &AccountId,
        keys: &[(Entity, String)],
    ) -> Result<HashMap<(Entity, String), HubId>, StoreError> {
        let mut found = HashMap::new();
        for (entity, key) in keys {
            if let Some(id) = self.hub_id(account, *entity, key).await? {
                found.insert((*entity, key.clone()), id);
            }
        }
        Ok(found)
    }
    /// The Nhanh keys mapped to several Hub ids (ids without a map are absent from the answer).
    async fn nhanh_keys(
        &self,
        account: &AccountId,
        entity: Entity,
        hubs: &[HubId],
    ) -> Result<HashMap<HubId, String>, StoreError> {
        let mut found = HashMap::new();
        for hub in hubs {
            if let Some(key) = self.nhanh_key(account, entity, hub).await? {
                found.insert(hub.clone(), key);
            }
        }
        Ok(found)
    }
    /// Records several pairs: every Hub → Nhanh entry before any Nhanh → Hub entry, as in
    /// [`IdMapStore::link`].
    async fn link_all(&self, account: &AccountId, entity: Entity, pairs: &[(String, HubId)]) -> Result<(), StoreError> {
        for (key, hub) in pairs {
            self.link(account, entity, key, hub).await?;
        }
        Ok(())
    }
}

/// Pass cursors per account and stream.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The cursor of a stream.
    async fn cursor(&self, account: &AccountId, stream: &str) -> Result<Option<OffsetDateTime>, StoreError>;
    /// Moves the cursor.
    async fn set_cursor(&self, account: &AccountId, stream: &str, at: OffsetDateTime) -> Result<(), StoreError>;
}

/// Status counters and webhook liveness, updated atomically (no read-modify-write).
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Adds one to `counter` of `stream` and moves its timestamp to `at`.
    async fn count(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.add(account, stream, counter, 1, at).await
    }
    /// Adds `amount` to `counter` of `stream` (one write for a whole page) and moves its timestamp.
    async fn add(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        amount: u64,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Counts one event of `stream` applied or dropped by the processor and, in the same write,
    /// moves `last_event_at` to when intake received it (intake itself writes no counter, so a
    /// webhook costs one read and one send).
    async fn count_event(
        &self,
        account: &AccountId,
        stream: Stream,
        counter: Counter,
        received_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.add(account, stream, counter, 1, at).await?;
        self.add(account, stream, Counter::Received, 0, received_at).await
    }
    /// Records that Nhanh confirmed webhooks (`webhooksEnabled`).
    async fn set_webhooks_live(&self, account: &AccountId, at: OffsetDateTime) -> Result<(), StoreError>;
    /// All counters of an account.
    async fn stats(&self, account: &AccountId) -> Result<Stats, StoreError>;
    /// Marks page `page` of `stream` done with its `count` members (e.g. the products of an
    /// initial sync page) and returns how many members the pages done so far hold; a page marked
    /// twice counts once (progress survives retries). Pages, not member ids, are kept: the ids of
    /// a large catalogue would outgrow an item (DynamoDB's 400 KB), a page number per 50 do not.
    async fn advance(
        &self,
        account: &AccountId,
        stream: Stream,
        page: u32,
        count: u64,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;
    /// Sets the `applied` counter of `stream` to zero (a new initial sync).
    async fn reset(&self, account: &AccountId, stream: Stream) -> Result<(), StoreError>;
}

/// A permanent failure of one record, kept on the connection's error log (shown on the status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// When it failed.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The entity (`order`, `product`, ...).
    pub entity: String,
    /// The record's id on its source side.
    pub record: String,
    /// What kind of failure (absent in failures kept before kinds existed: `other`).
    #[serde(default)]
    pub kind: crate::domain::FailureKind,
    /// Why, in the technical words of the side that refused it.
    pub reason: String,
}

/// The per-record error log of a connection (kept 30 days).
#[async_trait]
pub trait FailureLog: Send + Sync {
    /// Records a permanent failure.
    async fn record_failure(&self, account: &AccountId, failure: &FailureRecord) -> Result<(), StoreError>;
    /// The most recent failures, newest first.
    async fn recent_failures(&self, account: &AccountId, limit: usize) -> Result<Vec<FailureRecord>, StoreError>;
}

/// The last snapshot of a record sent to the Hub, with the version of the Nhanh state it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedSnapshot {
    /// Versions compare as text: a newer state's version sorts after an older one's; `""` for a
    /// snapshot recorded without one (older than any).
    pub version: String,
    /// The snapshot (JSON).
    pub body: String,
}

/// Intents written before a create on the other side, so a retry after a lost answer resends the
/// exact same request (same Idempotency-Key and body) or recognises the echo of a push.
#[async_trait]
pub trait IntentStore: Send + Sync {
    /// Records `body` as the last snapshot of (`scope`, `key`) unless a newer one is recorded (a
    /// stored version greater than `version`), in one conditional write. Returns the snapshot
    /// recorded now: ours, or the newer one that kept its place.
    async fn claim_snapshot(
        &self,
        account: &AccountId,
        scope: &str,
        key: &str,
        version: &str,
        body: &str,
    ) -> Result<VersionedSnapshot, StoreError>;
    /// The snapshot recorded for (`scope`, `key`), with its version.
    async fn versioned_snapshot(
        &self,
        account: &AccountId,
        scope: &str,
        key: &str,
    ) -> Result<Option<VersionedSnapshot>, StoreError>;
    /// The body recorded for (`scope`, `key`), if any.
    async fn intent(&self, account: &AccountId, scope: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Records (or keeps) the body for (`scope`, `key`); returns the body now stored (the first one wins).
    async fn put_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<String, StoreError>;
    /// Records the body for (`scope`, `key`), replacing any (last snapshots sent to the Hub).
    async fn set_intent(&self, account: &AccountId, scope: &str, key: &str, body: &str) -> Result<(), StoreError>;
    /// The bodies recorded for several keys of one scope (keys without one are absent).
    async fn intents(
        &self,
        account: &AccountId,
        scope: &str,
        keys: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut found = HashMap::new();
        for key in keys {
            if let Some(body) = self.intent(account, scope, key).await? {
                found.insert(key.clone(), body);
            }
        }
        Ok(found)
    }
    /// Like [`IntentStore::set_intent`] for several (key, body) pairs of one scope.
    async fn set_intents(
        &self,
        account: &AccountId,
        scope: &str,
        entries: &[(String, String)],
    ) -> Result<(), StoreError> {
        for (key, body) in entries {
            self.set_intent(account, scope, key, body).await?;
        }
        Ok(())
    }
}

/// Nhanh rate-limit locks shared by every instance, keyed by (app, business, API path): an instance
/// that meets `ERR_429` records the lock, and no instance calls that URL before it ends (R9).
#[async_trait]
pub trait RateLockStore: Send + Sync {
    /// When the URL unlocks, if it is locked at `now`.
    async fn locked_until(
        &self,
        app: u64,
        business: u64,
        path: &str,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;
    /// Records a lock until `until` (the later of two locks wins).
    async fn lock(&self, app: u64, business: u64, path: &str, until: OffsetDateTime) -> Result<(), StoreError>;
    /// Reserves the next call of the URL for calls `interval` apart, shared by every instance
    /// (issue 23: paced under Nhanh's limit, not punished by it): the instant this call may be
    /// sent, `now` when the URL is idle, later when others reserved before it.
    async fn reserve_call(
        &self,
        app: u64,
        business: u64,
        path: &str,
        interval: time::Duration,
        now: OffsetDateTime,
    ) -> Result<OffsetDateTime, StoreError>;
}
