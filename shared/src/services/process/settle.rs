//! Settling a record: what applying it did is counted (with the event's reception time) or
//! logged, and a permanent failure is kept on the account's error log.

use super::outcome::{Failure, Outcome, Unapplied};
use super::Processor;
use crate::domain::FailureKind;
use crate::domain::{AccountId, Connection, Counter, Stream, WorkItem};
use crate::metrics::{self, Metric};
use crate::store::FailureRecord;
use time::OffsetDateTime;

/// The stream of the outside event an item carries, and when intake accepted it (`None` for the
/// connector's own items: passes and initial sync pages).
pub(super) fn event_of(item: &WorkItem) -> Option<(Stream, OffsetDateTime)> {
    match item {
        WorkItem::NhanhChange { change, received_at, .. } => Some((change.entity_and_stream().1, *received_at)),
        WorkItem::NhanhWebhook { received_at, .. } => Some((Stream::Webhooks, *received_at)),
        WorkItem::HubEvent { event, received_at, .. } => {
            Some((if event.is_customer() { Stream::Customers } else { Stream::Orders }, *received_at))
        }
        WorkItem::OrderDrain { .. }
        | WorkItem::HubProbe { .. }
        | WorkItem::AccountData { .. }
        | WorkItem::ReconcileAccount { .. }
        | WorkItem::InitialSyncPage { .. } => None,
    }
}

impl Processor {
    /// Counts or logs what applying a record did; `Err` means "report it failed".
    /// An event's record (`event`: its stream, and when intake accepted it) moves the stream's
    /// `last_event_at` in the same write as its counter; one that waits for a retry moves it
    /// alone, so the page shows a stream whose events wait unapplied.
    pub(super) async fn settle(
        &self,
        account: &AccountId,
        event: Option<(Stream, OffsetDateTime)>,
        result: Result<Outcome, Failure>,
    ) -> Result<(), Unapplied> {
        let received_at = event.map(|(_, at)| at);
        let now = self.clock.now();
        let stats = self.stats.as_ref();
        record_metrics(account, event, &result, now);
        match result {
            Ok(outcome) => {
                tracing::info!(outcome = ?outcome, "work item applied");
                let counted = match (outcome, received_at) {
                    (Outcome::Applied(stream), Some(at)) => {
                        stats.count_event(account, stream, Counter::Applied, at, now).await
                    }
                    (Outcome::Dropped(stream), Some(at)) => {
                        stats.count_event(account, stream, Counter::Dropped, at, now).await
                    }
                    (Outcome::Applied(stream), None) => stats.count(account, stream, Counter::Applied, now).await,
                    (Outcome::Dropped(stream), None) => stats.count(account, stream, Counter::Dropped, now).await,
                    (Outcome::Skipped, _) => Ok(()),
                };
                if let Err(e) = counted {
                    tracing::warn!(error = %e, "counter not updated");
                }
                Ok(())
            }
            Err(Failure::Retry { reason, kind, not_before, .. }) => {
                tracing::warn!(reason = reason.as_str(), "work item will be retried");
                if let Some((stream, at)) = event {
                    if let Err(e) = stats.count(account, stream, Counter::Received, at).await {
                        tracing::warn!(error = %e, "last_event_at not moved");
                    }
                }
                Err(Unapplied { not_before, reason, kind })
            }
            Err(Failure::Permanent { stream, record: id, kind, reason }) => {
                tracing::error!(record = id.as_str(), reason = reason.as_str(), "work item failed permanently");
                let (entity, rec) = id.split_once(':').unwrap_or(("unknown", id.as_str()));
                let failure =
                    FailureRecord { at: now, entity: entity.to_owned(), record: rec.to_owned(), kind, reason };
                // If the log itself is unavailable, retry rather than lose the reason.
                let kept = self.failures.record_failure(account, &failure).await;
                kept.map_err(|e| Unapplied {
                    not_before: None,
                    reason: format!("the error log is unavailable: {e}"),
                    kind: FailureKind::Other,
                })?;
                let _ = self.stats.count(account, stream, Counter::Failed, now).await;
                Ok(())
            }
        }
    }

    /// A page-level count (best effort).
    pub(super) async fn count(&self, conn: &Connection, outcome: Outcome) {
        let now = self.clock.now();
        match outcome {
            Outcome::Applied(stream) => records(&conn.account_id, stream, "applied", 1),
            Outcome::Dropped(stream) => records(&conn.account_id, stream, "dropped", 1),
            Outcome::Skipped => {}
        }
        let r = match outcome {
            Outcome::Applied(stream) => self.stats.count(&conn.account_id, stream, Counter::Applied, now).await,
            Outcome::Dropped(stream) => self.stats.count(&conn.account_id, stream, Counter::Dropped, now).await,
            Outcome::Skipped => Ok(()),
        };
        if let Err(e) = r {
            tracing::warn!(account_id = conn.account_id.as_str(), error = %e, "counter not updated");
        }
    }

    /// A record's result inside a pass, a sync page or a drain: a permanent failure is logged and
    /// counted and the work goes on (`Ok(None)`); a retryable one is returned, to stop it.
    pub(super) async fn go_on(
        &self,
        conn: &Connection,
        result: Result<Outcome, Failure>,
    ) -> Result<Option<Outcome>, Failure> {
        match result {
            Ok(outcome) => Ok(Some(outcome)),
            Err(Failure::Permanent { stream, record, kind, reason }) => {
                self.log_failure(conn, stream, &record, kind, reason).await;
                Ok(None)
            }
            Err(retry) => Err(retry),
        }
    }

    /// A record's result inside a pass: counted when applied or dropped, logged when refused for
    /// good; a retryable failure is returned, to stop the pass.
    pub(super) async fn count_or_log(
        &self,
        conn: &Connection,
        result: Result<Outcome, Failure>,
    ) -> Result<(), Failure> {
        if let Some(outcome) = self.go_on(conn, result).await? {
            self.count(conn, outcome).await;
        }
        Ok(())
    }

    /// Records a permanent failure met inside a pass and counts it.
    pub(super) async fn log_failure(
        &self,
        conn: &Connection,
        stream: Stream,
        record: &str,
        kind: FailureKind,
        reason: String,
    ) {
        let now = self.clock.now();
        let (entity, rec) = record.split_once(':').unwrap_or(("unknown", record));
        tracing::error!(
            account_id = conn.account_id.as_str(),
            record,
            reason = reason.as_str(),
            "record failed permanently"
        );
        records(&conn.account_id, stream, "failed", 1);
        let failure = FailureRecord { at: now, entity: entity.to_owned(), record: rec.to_owned(), kind, reason };
        let _ = self.failures.record_failure(&conn.account_id, &failure).await;
        let _ = self.stats.count(&conn.account_id, stream, Counter::Failed, now).await;
    }
}

/// The `outcome` dimension of a record's result.
fn outcome_name(result: &Result<Outcome, Failure>) -> &'static str {
    match result {
        Ok(Outcome::Applied(_)) => "applied",
        Ok(Outcome::Dropped(_)) => "dropped",
        Ok(Outcome::Skipped) => "ignored",
        Err(Failure::Retry { .. }) => "retried",
        Err(Failure::Permanent { .. }) => "failed",
    }
}

/// Counts `amount` records of `stream` with `outcome` (the `Records` metric).
pub(super) fn records(account: &AccountId, stream: Stream, outcome: &'static str, amount: usize) {
    metrics::records(stream.as_str(), outcome, amount, account.as_str());
}

/// The lag of events applied, from their reception by intake to `now` (the `Lag` metric, ms).
pub(super) fn lag(account: &AccountId, received: &[OffsetDateTime], now: OffsetDateTime) {
    let values: Vec<f64> = received.iter().map(|at| ((now - *at).as_seconds_f64() * 1000.0).max(0.0)).collect();
    metrics::emit(Metric::Lag, &values, &[], &metrics::of_account(account.as_str()));
}

/// The metrics of one settled record: its outcome on its stream (the event's, the failure's or
/// the outcome's), and its lag once applied.
fn record_metrics(
    account: &AccountId,
    event: Option<(Stream, OffsetDateTime)>,
    result: &Result<Outcome, Failure>,
    now: OffsetDateTime,
) {
    let stream = match result {
        Ok(Outcome::Applied(s) | Outcome::Dropped(s)) | Err(Failure::Permanent { stream: s, .. }) => Some(*s),
        _ => event.map(|(s, _)| s),
    };
    // The connector's own items (passes, pages, drains) count what they applied themselves.
    if let Some(stream) = stream.filter(|_| event.is_some() || result.is_err()) {
        records(account, stream, outcome_name(result), 1);
    }
    if let (Ok(Outcome::Applied(_)), Some((_, at))) = (result, event) {
        lag(account, &[at], now);
    }
}
