//! Domain types: identifiers parsed at the edge, phones (R6), the connection and its states.

pub mod connection;
pub mod failure;
pub mod ids;
pub mod phone;
pub mod stream;
pub mod work;

pub use connection::{
    ApiVersion, Connection, ConnectionState, Counter, Depot, InitialSync, InitialSyncState, Stats, StreamCounters,
    Streams,
};
pub use failure::FailureKind;
pub use ids::{AccountId, AppId, BusinessId, HubId, NhanhId};
pub use phone::Phone;
pub use stream::Stream;
pub use work::{NhanhBusiness, Origin, PassResume, PassStream, WorkItem, HUB_PROBE_GROUP};

/// A value from outside did not parse; the message says which and why (safe to show to a user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParseError {
    /// The field or value kind that failed.
    pub field: &'static str,
    /// Why it failed.
    pub reason: String,
}

impl ParseError {
    /// Builds a parse error for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}
