//! A Hub outage and the records parked while it lasts (issue 23, item 3): when the Hub answers
//! 5xx (or nothing) to call after call, the processor stops sending to it. Each record that meets
//! the outage is parked here and acknowledged, instead of spending its deliveries on a Hub that is
//! down; one probe tries the Hub every few seconds, and once it answers, the outage ends and every
//! parked record goes back to the queue in its own message group, oldest first.
//!
//! The outage is one item for the whole fleet (every account talks to one Hub). A record is
//! parked only while the outage is open (one transaction), so nothing is parked after the probe
//! has ended it and brought the parked records back.

use super::StoreError;
use crate::domain::AccountId;
use async_trait::async_trait;
use time::OffsetDateTime;

/// The Hub outage under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOutage {
    /// When it was opened.
    pub since: OffsetDateTime,
    /// The account whose call opened it: the probe calls the Hub as this account.
    pub account: AccountId,
    /// The failure that opened it.
    pub reason: String,
    /// When the probe last called the Hub (`None`: not yet): the schedule queues a new probe when
    /// this is old, so an outage whose probe chain was lost still ends.
    pub probed_at: Option<OffsetDateTime>,
}

/// A queue message parked during an outage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedRecord {
    /// When it was parked.
    pub parked_at: OffsetDateTime,
    /// Its account.
    pub account: AccountId,
    /// Its SQS message id when it was parked.
    pub message_id: String,
    /// Its message group (kept when it is queued again).
    pub group_id: String,
    /// The work item, as queued.
    pub body: String,
}

/// The Hub outage and its parked records.
#[async_trait]
pub trait OutageStore: Send + Sync {
    /// The outage under way, if any.
    async fn hub_outage(&self) -> Result<Option<HubOutage>, StoreError>;
    /// Opens `outage` unless one is open; returns whether this call opened it.
    async fn open_hub_outage(&self, outage: &HubOutage) -> Result<bool, StoreError>;
    /// Records that the probe of the outage opened at `since` called the Hub at `at`.
    async fn probed(&self, since: OffsetDateTime, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Ends the outage opened at `since` (a later one stays).
    async fn close_hub_outage(&self, since: OffsetDateTime) -> Result<(), StoreError>;
    /// Parks `record` if an outage is still open; `false`: none is (apply the record instead).
    async fn park(&self, record: &ParkedRecord) -> Result<bool, StoreError>;
    /// Up to `max` parked records, account by account, each account's oldest first (the order of
    /// a message group is kept; accounts need none between them).
    async fn parked(&self, max: usize) -> Result<Vec<ParkedRecord>, StoreError>;
    /// How many records of `account` are parked.
    async fn parked_count(&self, account: &AccountId) -> Result<usize, StoreError>;
    /// Removes parked records (once they are queued again).
    async fn unpark(&self, records: &[ParkedRecord]) -> Result<(), StoreError>;
}
