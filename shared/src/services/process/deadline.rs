//! The invocation's deadline: a pass or an initial sync stops, and continues in a new work item,
//! before the Lambda invocation must answer.

use super::Processor;
use time::OffsetDateTime;

/// Runs `work` under the invocation's `deadline`: a pass or an initial sync in it stops, and
/// continues in a new work item, before the deadline (less [`DEADLINE_MARGIN`]) or after
/// [`Processor::pass_budget`], whichever comes first; a record not done by then is reported
/// failed (and retried), so the invocation answers before Lambda ends it.
pub use crate::clock::within_deadline;

/// Time kept back from the invocation's deadline for settling the batch and answering.
pub const DEADLINE_MARGIN: time::Duration = time::Duration::seconds(5);

/// Why a record was not applied when the invocation's time ran out.
pub const DEADLINE_REACHED: &str =
    "the invocation's time ran out before this record was applied; it is retried (nothing lost)";

impl Processor {
    /// When a pass or an initial sync that starts now must stop: after the pass budget, and
    /// before the invocation's deadline.
    pub(super) fn work_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        let budget = now + self.pass_budget;
        match crate::clock::invocation_deadline() {
            Some(d) if d > now => {
                // Keep the margin, but never more than a quarter of what is left.
                let room = d - now;
                budget.min(d - DEADLINE_MARGIN.min(room / 4))
            }
            // None, or a deadline already past (a local emulator's): the budget alone.
            _ => budget,
        }
    }

    /// How long a record that starts now may run: up to the invocation's deadline less
    /// [`DEADLINE_MARGIN`] (zero when that is past); `None` without a deadline, or with one
    /// already past at the batch's start (a local emulator's), as [`Processor::work_until`].
    pub(super) fn record_room(&self, batch_started: OffsetDateTime) -> Option<std::time::Duration> {
        let d = crate::clock::invocation_deadline().filter(|d| *d > batch_started)?;
        let room = d - DEADLINE_MARGIN - self.clock.now();
        Some(std::time::Duration::try_from(room).unwrap_or(std::time::Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::processor_fixture;
    use time::Duration;

    #[tokio::test]
    async fn the_pass_stops_at_its_budget_or_before_the_deadline() {
        let mut f = processor_fixture().await;
        f.processor.pass_budget = Duration::seconds(60);
        let now = f.now;
        let until = |deadline| {
            let p = &f.processor;
            async move { super::within_deadline(deadline, async { p.work_until(now) }).await }
        };
        assert_eq!(until(None).await, now + f.processor.pass_budget);
        assert_eq!(until(Some(now + Duration::minutes(5))).await, now + f.processor.pass_budget, "budget first");
        assert_eq!(until(Some(now + Duration::seconds(30))).await, now + Duration::seconds(25), "5 s margin");
        assert_eq!(until(Some(now + Duration::seconds(4))).await, now + Duration::seconds(3), "a quarter at most");
        assert_eq!(until(Some(now - Duration::seconds(1))).await, now + f.processor.pass_budget, "a stale deadline");
    }
}
