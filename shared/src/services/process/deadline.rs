//! The invocation's deadline: a pass or an initial sync stops, and continues in a new work item,
//! before the Lambda invocation must answer.

use super::Processor;
use time::OffsetDateTime;

tokio::task_local! {
    /// The instant the current invocation must have answered by (the Lambda deadline).
    static INVOCATION_DEADLINE: OffsetDateTime;
}

/// Time kept back from the invocation's deadline for settling the batch and answering.
pub const DEADLINE_MARGIN: time::Duration = time::Duration::seconds(5);

/// Runs `work` under the invocation's `deadline`: a pass or an initial sync in it stops, and
/// continues in a new work item, before the deadline (less [`DEADLINE_MARGIN`]) or after
/// [`Processor::pass_budget`], whichever comes first.
pub async fn within_deadline<F: std::future::Future>(deadline: Option<OffsetDateTime>, work: F) -> F::Output {
    match deadline {
        Some(d) => INVOCATION_DEADLINE.scope(d, work).await,
        None => work.await,
    }
}

impl Processor {
    /// When a pass or an initial sync that starts now must stop: after the pass budget, and
    /// before the invocation's deadline.
    pub(super) fn work_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        let budget = now + self.pass_budget;
        INVOCATION_DEADLINE.try_with(|d| budget.min(*d - DEADLINE_MARGIN)).unwrap_or(budget)
    }
}
