//! The fleet of connections, as the Hub's operators see it (issue 24): every account's state,
//! read a page at a time from the sparse `connections` index (state projected), never by reading
//! each connection.

use super::StoreError;
use crate::domain::{AccountId, ConnectionState};
use async_trait::async_trait;

/// Every connection's account and state.
#[async_trait]
pub trait FleetStore: Send + Sync {
    /// Up to `max` accounts with their state, in account order from after `after`; the cursor of
    /// the next page (`None`: the last).
    async fn connection_states(
        &self,
        after: Option<String>,
        max: usize,
    ) -> Result<(Vec<(AccountId, ConnectionState)>, Option<String>), StoreError>;
}
