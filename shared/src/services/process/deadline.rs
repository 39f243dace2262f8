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
        INVOCATION_DEADLINE
            .try_with(|d| {
                let room = *d - now;
                if room <= time::Duration::ZERO {
                    // A deadline already past (a local emulator's): the budget alone.
                    return budget;
                }
                // Keep the margin, but never more than a quarter of what is left.
                budget.min(*d - DEADLINE_MARGIN.min(room / 4))
            })
            .unwrap_or(budget)
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
