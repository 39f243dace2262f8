//! Order changes waiting to be re-read, per business (issue 23): intake records each announced
//! order here instead of queueing one work item per order, and queues one drain item per business
//! while none is marked; the drain re-reads the waiting orders together (`order/list` by up to 100
//! ids on v3) and removes each it applied. A flash sale's 300 webhooks cost 3 reads, not 300.
//!
//! No change is lost: each waiting order carries the instant intake recorded it (its stamp), and
//! the drain removes an order only while its stamp is still the one it read, so a change recorded
//! after the drain's read stays for the next round. The drain ends (clears its mark) only when no
//! order was added since its last read (the backlog's `seq`); intake queues a new drain whenever it
//! finds no mark.

use super::StoreError;
use crate::domain::{AccountId, NhanhBusiness, NhanhId};
use async_trait::async_trait;
use time::OffsetDateTime;

/// Whose backlog: the account and the (app, business) the webhooks came for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BacklogKey {
    /// The account.
    pub account: AccountId,
    /// The app and business.
    pub business: NhanhBusiness,
}

/// One order waiting to be re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingOrder {
    /// The order.
    pub id: NhanhId,
    /// When intake recorded its latest change (Unix nanoseconds): the drain removes the order only
    /// while this is unchanged.
    pub stamp: i64,
}

impl WaitingOrder {
    /// When intake recorded it.
    pub fn recorded_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.stamp)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A backlog as read: the waiting orders (oldest first) and how many additions it has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// The waiting orders, oldest stamp first.
    pub orders: Vec<WaitingOrder>,
    /// Additions so far (moves with every [`OrderBacklog::add_orders`]).
    pub seq: u64,
    /// When the running drain was queued (`None`: no drain is marked).
    pub drain_since: Option<OffsetDateTime>,
}

/// The order backlogs of the businesses.
#[async_trait]
pub trait OrderBacklog: Send + Sync {
    /// Records changes of `ids` at `at` (in DynamoDB two writes: the orders, then the mark). Returns `true` when the caller must queue a
    /// drain: none was marked, or its mark is older than `stale_before` (a drain lost to a failed
    /// send); the mark is then set to `at`.
    async fn add_orders(
        &self,
        key: &BacklogKey,
        ids: &[NhanhId],
        at: OffsetDateTime,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Clears the drain mark set at `at` (the caller could not queue the drain), unless another
    /// caller set a newer one.
    async fn unmark_drain(&self, key: &BacklogKey, at: OffsetDateTime) -> Result<(), StoreError>;
    /// The backlog of `key` (a strongly consistent read).
    async fn backlog(&self, key: &BacklogKey) -> Result<Backlog, StoreError>;
    /// Removes the `orders` whose stamp is still the one given (a newer change stays).
    async fn remove_orders(&self, key: &BacklogKey, orders: &[WaitingOrder]) -> Result<(), StoreError>;
    /// Clears the drain mark if nothing was added since the backlog read with `seq`; `false`: more
    /// came, the drain goes on.
    async fn end_drain(&self, key: &BacklogKey, seq: u64) -> Result<bool, StoreError>;
}
