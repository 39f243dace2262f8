//! What applying a work item did, and why it failed: the leaf types of the processor.

use crate::domain::{FailureKind, Stream};
use crate::hub::HubError;
use crate::nhanh::NhanhError;
use crate::Error;
use time::OffsetDateTime;

/// One queue record of a batch.
#[derive(Debug, Clone)]
pub struct BatchRecord {
    /// The SQS message id (reported back when it fails).
    pub message_id: String,
    /// `MessageGroupId`.
    pub group_id: String,
    /// The body (a serialised [`WorkItem`]).
    pub body: String,
}

/// A port call's answer as a record's: its error becomes the record's [`Failure`] (retryable or
/// permanent, by [`classify`]), for `?` (the one home of that conversion).
pub(crate) trait OfRecord<T> {
    /// The answer, or the failure of `record` on `stream`.
    fn of_record(self, stream: Stream, record: &str) -> Result<T, Failure>;
}

impl<T, E: Into<crate::Error>> OfRecord<T> for Result<T, E> {
    fn of_record(self, stream: Stream, record: &str) -> Result<T, Failure> {
        self.map_err(|e| classify(stream, record, e.into()))
    }
}

/// A record to report in `batchItemFailures`, and when it may be retried (rate limits).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFailure {
    /// The SQS message id.
    pub message_id: String,
    /// No retry before this instant (Nhanh's `unlockedAt`, the Hub's `Retry-After`).
    pub not_before: Option<OffsetDateTime>,
    /// Why it was not applied (kept on the error log when this was its last delivery).
    pub reason: String,
    /// What kind of failure it is.
    pub kind: FailureKind,
}

/// A record that was not applied this time: when it may be retried, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unapplied {
    /// No retry before this instant.
    pub not_before: Option<OffsetDateTime>,
    /// Why.
    pub reason: String,
    /// What kind of failure it is.
    pub kind: FailureKind,
}

/// The reason given to the records of a group held back behind one that failed (FIFO order).
pub const HELD_BACK: &str = "held back behind an earlier record of its group that was not applied";

/// What applying one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Changes applied to the other side, counted on this stream.
    Applied(Stream),
    /// Dropped by rule (R3), counted on this stream.
    Dropped(Stream),
    /// Nothing to do (already done, or nothing the connector syncs).
    Skipped,
}

/// Why an item was not applied.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Try again later (nothing lost).
    Retry {
        /// For the logs and, should it be given up, its dead letter.
        reason: String,
        /// What kind of failure it is.
        kind: FailureKind,
        /// Not before this instant.
        not_before: Option<OffsetDateTime>,
        /// Nhanh refused the access token: the connection needs a new consent (R12).
        reauth: bool,
        /// The Hub answered 5xx or nothing (after the client's own retries): counts toward a Hub
        /// outage ([`crate::store::OutageStore`]).
        hub_down: bool,
    },
    /// Will never succeed as it is: recorded on the error log and acknowledged.
    Permanent {
        /// The stream to count it on.
        stream: Stream,
        /// Entity and record id for the error log.
        record: String,
        /// What kind of failure it is (the page's reason).
        kind: FailureKind,
        /// Why, in the technical words of the side that refused it.
        reason: String,
    },
}

impl Failure {
    /// A failure that will never succeed as it is: `kind` for the page, `reason` for the details.
    pub(super) fn permanent(
        kind: FailureKind,
        stream: Stream,
        record: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Permanent { stream, record: record.into(), kind, reason: reason.into() }
    }
}

/// Classifies a lower-level error for a record of `stream`.
pub(crate) fn classify(stream: Stream, record: &str, e: Error) -> Failure {
    let not_before = match &e {
        Error::Nhanh(NhanhError::RateLimited { unlocked_at, .. }) => Some(*unlocked_at),
        Error::Hub(HubError::RateLimited { until }) => Some(*until),
        _ => None,
    };
    if e.is_retryable()
        || matches!(e, Error::Nhanh(NhanhError::InvalidAccessToken))
        || matches!(e, Error::Hub(HubError::Unauthorized))
    {
        let reauth = matches!(e, Error::Nhanh(NhanhError::InvalidAccessToken));
        let hub_down = matches!(e, Error::Hub(HubError::Unavailable(_)));
        Failure::Retry { reason: e.to_string(), kind: FailureKind::of_error(&e), not_before, reauth, hub_down }
    } else {
        Failure::permanent(FailureKind::of_error(&e), stream, record, e.to_string())
    }
}

/// Classifies a failure met while reading or applying a stream of a pass or sync.
pub(crate) fn err(stream: Stream, e: impl Into<Error>) -> Failure {
    classify(stream, "pass", e.into())
}
