//! What kind of failure kept a record from being applied: chosen where the failure is met (from
//! the typed error, or by the rule that refused the record), stored beside its text, and read by
//! the merchant's page to say it in Vietnamese, never by searching the text.

use crate::hub::HubError;
use crate::nhanh::NhanhError;
use crate::Error;
use serde::{Deserialize, Serialize};

/// The kind of a record's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The Hub refused the record's data (422 and any other 4xx but 409).
    HubRefused,
    /// The Hub holds the record already (409: a phone or ref owned by another record).
    HubConflict,
    /// The Hub did not answer, or failed (5xx, timeouts).
    HubUnavailable,
    /// A rate limit of either side.
    RateLimited,
    /// Nhanh no longer has the record.
    GoneFromNhanh,
    /// Nhanh refused the record (or the permission to read it).
    NhanhRefused,
    /// Nhanh did not answer, or failed.
    NhanhUnavailable,
    /// Nhanh refused the connection's token (a new consent is needed) or the Hub refused the
    /// connector's service token.
    NotAuthorized,
    /// The customer has no valid Vietnamese phone (R6): neither side takes the record.
    InvalidPhone,
    /// The record was never synced, so there is nothing to update or mark deleted.
    NeverSynced,
    /// Anything else: the connector's own storage, an answer of an unexpected shape. Also what a
    /// failure stored before kinds existed reads as.
    #[default]
    Other,
}

impl FailureKind {
    /// The kind of a failure met as `error`.
    pub fn of_error(error: &Error) -> Self {
        match error {
            Error::Hub(HubError::Rejected { status: 409, .. }) => Self::HubConflict,
            Error::Hub(HubError::Rejected { .. }) => Self::HubRefused,
            Error::Hub(HubError::Unavailable(_)) => Self::HubUnavailable,
            Error::Hub(HubError::RateLimited { .. }) | Error::Nhanh(NhanhError::RateLimited { .. }) => {
                Self::RateLimited
            }
            Error::Hub(HubError::Unauthorized) | Error::Nhanh(NhanhError::InvalidAccessToken) => Self::NotAuthorized,
            Error::Nhanh(NhanhError::Unavailable(_)) => Self::NhanhUnavailable,
            Error::Nhanh(NhanhError::Forbidden { .. } | NhanhError::Duplicate(_) | NhanhError::Rejected { .. }) => {
                Self::NhanhRefused
            }
            Error::Hub(HubError::Malformed(_))
            | Error::Nhanh(NhanhError::Malformed(_))
            | Error::Store(_)
            | Error::Queue(_)
            | Error::Secret(_)
            | Error::Invalid(_) => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_kind() {
        let rejected = |status| Error::Hub(HubError::Rejected { status, code: "x".into(), message: "m".into() });
        let cases = [
            (rejected(422), FailureKind::HubRefused),
            (rejected(409), FailureKind::HubConflict),
            (Error::Hub(HubError::Unavailable("503".into())), FailureKind::HubUnavailable),
            (Error::Nhanh(NhanhError::InvalidAccessToken), FailureKind::NotAuthorized),
            (Error::Nhanh(NhanhError::Duplicate("d".into())), FailureKind::NhanhRefused),
            (Error::Nhanh(NhanhError::Unavailable("t".into())), FailureKind::NhanhUnavailable),
            (Error::Invalid("i".into()), FailureKind::Other),
        ];
        for (error, kind) in cases {
            assert_eq!(FailureKind::of_error(&error), kind, "{error}");
        }
        assert_eq!(serde_json::from_str::<FailureKind>("\"invalid_phone\"").ok(), Some(FailureKind::InvalidPhone));
    }
}
