//! What an account leaves in the table when it disconnects (issue 24): its id maps, snapshots,
//! intents, cursors and counters carry an expiry (the table's TTL) for the retention period, and
//! lose it when the merchant connects again within it (R3's rules then still hold: the maps say
//! which Hub record each Nhanh record is).
//!
//! Items with a lifetime of their own (create intents, the error log, dead letters, the order
//! backlog) keep it: only items without one are given the account's expiry, and only those that
//! carry the account's expiry lose it again. The connection item keeps no secret after a
//! disconnect and stays, so the page can say what is kept and until when.

use super::StoreError;
use crate::domain::AccountId;
use async_trait::async_trait;
use time::OffsetDateTime;

/// One page of the account's items walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPage {
    /// Items whose expiry was set or removed.
    pub changed: usize,
    /// Where the next page starts (`None`: the walk is done).
    pub next: Option<String>,
}

/// The expiry of an account's kept data.
#[async_trait]
pub trait AccountDataStore: Send + Sync {
    /// Gives up to `max` of the account's items from `after` on the expiry `expires_at` (`Some`),
    /// or removes the expiry they carry from an earlier disconnect (`None`).
    async fn set_data_expiry(
        &self,
        account: &AccountId,
        expires_at: Option<OffsetDateTime>,
        after: Option<String>,
        max: usize,
    ) -> Result<DataPage, StoreError>;
}
