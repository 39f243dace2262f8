//! Every key format of the table, in one place (architecture.md § Data): one table, the tenant in
//! the key.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | connection (JSON in `data`, `version`, `state`; `conn_list` = `CONN` keys the sparse `connections` index) | `ACCT#{account}` | `CONN` |
//! | R1 claim | `BIZ#{business}` | `CLAIM` |
//! | webhook route | `APP#{app}#BIZ#{business}` | `ROUTE` |
//! | accounts of an app | `APP#{app}` | `ACCT#{account}` |
//! | pending connect attempt (TTL) | `OAUTH#{account}#{app}` | `PENDING` |
//! | id map | `ACCT#{account}` | `MAP#{entity}#N#{nhanh}` / `MAP#{entity}#H#{hub}` |
//! | cursor | `ACCT#{account}` | `CUR#{stream}` |
//! | status counters of a stream | `ACCT#{account}` | `STAT#{stream}` |
//! | webhook liveness | `ACCT#{account}` | `STAT#webhooks` (attribute `live`) |
//! | permanent failure (TTL 30 days) | `ACCT#{account}` | `ERR#{unix ms}#{entity}#{record}` |
//! | dead letter: a record given up (TTL 30 days) | `ACCT#{account}` | `DEAD#{message id}` |
//! | create intent (TTL 2 days) | `ACCT#{account}` | `INT#{scope}#{key}` |
//! | order backlog of a business: its drain mark (`seq`, `drain`; TTL 7 days) | `ACCT#{account}` | `BACKLOG#orders#{app}#{business}` |
//! | an order waiting in it (`stamp`; TTL 7 days) | `ACCT#{account}` | `BACKLOG#orders#{app}#{business}#o#{order}` |
//! | the Hub outage under way (`since`, `account`, `reason`) | `HUB` | `OUTAGE` |
//! | a record parked during a Hub outage (TTL 30 days) | `PARKED` | `{account}#{parked ms:013}#{message id}` |
//! | Nhanh rate-limit locks and call slots of a business (`until {API path}`, `next {API path}` = ms, TTL) | `LOCK#{app}#{business}` | `LOCKS` |

use crate::domain::{AccountId, AppId, BusinessId, HubId, Stream};
use crate::store::Entity;
use std::fmt::Display;

/// The sparse index listing connection items (template.yaml).
pub(super) const CONNECTIONS_INDEX: &str = "connections";
/// Its partition key, present on connection items only (value [`CONNECTION_SK`]).
pub(super) const CONNECTIONS_INDEX_KEY: &str = "conn_list";
/// Partition key prefix of an account's items.
pub(super) const ACCOUNT_PREFIX: &str = "ACCT#";
/// Sort key of a connection.
pub(super) const CONNECTION_SK: &str = "CONN";
/// Sort key of an R1 claim.
pub(super) const CLAIM_SK: &str = "CLAIM";
/// Sort key of a webhook route.
pub(super) const ROUTE_SK: &str = "ROUTE";
/// Sort key of the item holding a business's rate-limit locks, one attribute per API path.
pub(super) const LOCKS_SK: &str = "LOCKS";
/// Prefix of a lock's attribute name (the rest is the API path; the value, Unix ms).
pub(super) const LOCK_ATTRIBUTE_PREFIX: &str = "until ";
/// Prefix of the attribute holding a path's next free call slot (Unix ms), in the same item.
pub(super) const NEXT_CALL_ATTRIBUTE_PREFIX: &str = "next ";
/// Partition key of the Hub outage item (one for the fleet).
pub(super) const HUB_PK: &str = "HUB";
/// Its sort key.
pub(super) const OUTAGE_SK: &str = "OUTAGE";
/// Partition key of the records parked during a Hub outage.
pub(super) const PARKED_PK: &str = "PARKED";
/// Sort key of a pending connect attempt.
pub(super) const PENDING_SK: &str = "PENDING";
/// Sort key prefix of status counters.
pub(super) const STAT_PREFIX: &str = "STAT#";
/// Sort key prefix of the error log.
pub(super) const ERROR_PREFIX: &str = "ERR#";
/// Sort key prefix of the dead letters.
pub(super) const DEAD_LETTER_PREFIX: &str = "DEAD#";

/// `ACCT#{account}`: an account's items (connection, maps, cursors, counters, log, intents).
pub(super) fn account_pk(account: &AccountId) -> String {
    format!("{ACCOUNT_PREFIX}{}", account.as_str())
}

/// `BIZ#{business}`: the R1 claim of a business.
pub(super) fn claim_pk(business: BusinessId) -> String {
    format!("BIZ#{business}")
}

/// `APP#{app}#BIZ#{business}`: the webhook route of an app's business.
pub(super) fn route_pk(app: AppId, business: BusinessId) -> String {
    format!("APP#{app}#BIZ#{business}")
}

/// `APP#{app}`: the accounts connected through an app (sort key [`account_pk`]).
pub(super) fn app_pk(app: AppId) -> String {
    format!("APP#{app}")
}

/// `OAUTH#{account}#{app}`: a pending connect attempt.
pub(super) fn pending_pk(account: &AccountId, app: AppId) -> String {
    format!("OAUTH#{}#{app}", account.as_str())
}

/// `MAP#{entity}#N#`: id maps by Nhanh key (followed by the key).
pub(super) fn map_by_nhanh_prefix(entity: Entity) -> String {
    format!("MAP#{}#N#", entity.as_str())
}

/// `MAP#{entity}#H#`: id maps by Hub id (followed by the id).
pub(super) fn map_by_hub_prefix(entity: Entity) -> String {
    format!("MAP#{}#H#", entity.as_str())
}

/// `MAP#{entity}#N#{nhanh key}`.
pub(super) fn map_by_nhanh_sk(entity: Entity, nhanh_key: &str) -> String {
    format!("{}{nhanh_key}", map_by_nhanh_prefix(entity))
}

/// `MAP#{entity}#H#{hub id}`.
pub(super) fn map_by_hub_sk(entity: Entity, hub: &HubId) -> String {
    format!("{}{}", map_by_hub_prefix(entity), hub.as_str())
}

/// `CUR#{stream}`: a pass cursor.
pub(super) fn cursor_sk(stream: &str) -> String {
    format!("CUR#{stream}")
}

/// `STAT#{stream}`: a stream's counters.
pub(super) fn stat_sk(stream: Stream) -> String {
    format!("{STAT_PREFIX}{stream}")
}

/// `STAT#webhooks`: webhook liveness (attribute `live`).
pub(super) fn webhooks_stat_sk() -> String {
    stat_sk(Stream::Webhooks)
}

/// `ERR#{unix ms, 15 digits}#{entity}#{record}`: a failure, in time order.
pub(super) fn error_sk(millis: i128, entity: &str, record: &str) -> String {
    format!("{ERROR_PREFIX}{millis:015}#{entity}#{record}")
}

/// `INT#{scope}#`: intents of a scope (followed by the key).
pub(super) fn intent_prefix(scope: &str) -> String {
    format!("INT#{scope}#")
}

/// `INT#{scope}#{key}`: a create intent or last snapshot.
pub(super) fn intent_sk(scope: &str, key: impl Display) -> String {
    format!("{}{key}", intent_prefix(scope))
}

/// `LOCK#{app}#{business}`: Nhanh rate-limit locks of a business (one item, [`LOCKS_SK`]).
pub(super) fn lock_pk(app: impl Display, business: impl Display) -> String {
    format!("LOCK#{app}#{business}")
}
