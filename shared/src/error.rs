//! The crate's top-level error: every failure is either retryable (try again later, nothing
//! lost) or permanent (record the reason and move on).

use crate::hub::HubError;
use crate::nhanh::NhanhError;
use crate::queue::QueueError;
use crate::secrets::SecretError;
use crate::store::StoreError;

/// Any failure of a use case.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Nhanh call failed.
    #[error(transparent)]
    Nhanh(#[from] NhanhError),
    /// A Hub call failed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Queueing work failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Input from outside is invalid.
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl Error {
    /// Whether a later attempt may succeed without anyone acting.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Nhanh(e) => e.is_retryable(),
            Self::Hub(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
            Self::Queue(e) => matches!(e, QueueError::Unavailable(_)),
            Self::Secret(e) => matches!(e, SecretError::Unavailable(_)),
            Self::Invalid(_) => false,
        }
    }
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
