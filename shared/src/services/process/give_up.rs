//! What becomes of a delivery that was not applied (issue 23): a wait is not a failure. A record
//! is retried after growing, jittered delays (or at the instant a rate lock or an outage names)
//! for up to [`RetryRule::horizon`] since its first delivery; only then, or at its queue's last
//! delivery, is it given up, kept as a dead letter of its account in the table, and acknowledged.
//! A body this release cannot decode belongs to no account the processor can name: it goes to
//! the SQS dead-letter queue, which `replay-dead-letters` empties once a release reads it.

use super::outcome::RecordFailure;
use super::Processor;
use crate::domain::{AccountId, WorkItem};
use crate::store::StoredDeadLetter;
use time::{Duration, OffsetDateTime};

/// The longest wait between two deliveries of a record.
pub const MAX_RETRY_DELAY: Duration = Duration::minutes(15);

/// When a record that was not applied is tried again, and when it is given up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryRule {
    /// Deliveries before SQS would move a record to the dead-letter queue (`MAX_RECEIVE_COUNT`,
    /// the template's `MaxReceiveCount`): the last one gives it up instead.
    pub max_receive_count: u32,
    /// How long after its first delivery a record is still retried (`RETRY_HORIZON_SECS`, 24 h).
    pub horizon: Duration,
    /// The first retry's delay, doubled at each further one up to [`MAX_RETRY_DELAY`]
    /// (`RETRY_BASE_SECS`, 10 s).
    pub base: Duration,
}

impl Default for RetryRule {
    fn default() -> Self {
        Self { max_receive_count: 1000, horizon: Duration::hours(24), base: Duration::seconds(10) }
    }
}

impl RetryRule {
    /// The wait before delivery `deliveries + 1`: `base × 2^(deliveries − 1)`, at most
    /// [`MAX_RETRY_DELAY`], less up to a fifth at random (records failed together spread out).
    pub fn delay(&self, deliveries: u32) -> Duration {
        let doublings = deliveries.saturating_sub(1).min(16);
        let grown = self.base.checked_mul(1 << doublings).unwrap_or(MAX_RETRY_DELAY).min(MAX_RETRY_DELAY);
        let [r] = crate::secrets::random_bytes::<1>();
        let jitter = grown * (f64::from(r) / 255.0 / 5.0);
        (grown - jitter).max(Duration::SECOND)
    }

    /// Whether delivery `deliveries`, first delivered at `first`, is the last one.
    pub fn gives_up(&self, deliveries: u32, first: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        deliveries >= self.max_receive_count || first.is_some_and(|f| now - f >= self.horizon)
    }
}

/// One failed delivery, as the event source mapping handed it over.
#[derive(Debug, Clone, Copy)]
pub struct FailedDelivery<'a> {
    /// The SQS message id.
    pub message_id: &'a str,
    /// Its message group.
    pub group_id: &'a str,
    /// The body.
    pub body: &'a str,
    /// `ApproximateReceiveCount`.
    pub deliveries: u32,
    /// `ApproximateFirstReceiveTimestamp`.
    pub first_delivered_at: Option<OffsetDateTime>,
}

/// What to do with a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Report it failed, visible again after this many seconds.
    Retry {
        /// Seconds until the next delivery.
        after_secs: i32,
    },
    /// Kept as a dead letter of its account: acknowledge it.
    GivenUp,
    /// The body does not decode: move it to the SQS dead-letter queue.
    Undecodable,
}

impl Processor {
    /// Decides what becomes of `delivery`, which failed with `failure`, and keeps it as a dead
    /// letter when it is given up (if the table refuses, it is retried instead: nothing is lost).
    pub async fn dispose(&self, delivery: &FailedDelivery<'_>, failure: &RecordFailure) -> Disposition {
        let Ok(item) = serde_json::from_str::<WorkItem>(delivery.body) else { return Disposition::Undecodable };
        let now = self.clock.now();
        let retry = || {
            let wait = failure.not_before.map_or_else(|| self.retry.delay(delivery.deliveries), |at| at - now);
            Disposition::Retry { after_secs: i32::try_from(wait.whole_seconds().clamp(1, 43_200)).unwrap_or(60) }
        };
        if !self.retry.gives_up(delivery.deliveries, delivery.first_delivered_at, now) {
            tracing::info!(
                message_id = delivery.message_id,
                reason = failure.reason.as_str(),
                "record waits for a retry"
            );
            return retry();
        }
        let account: &AccountId = item.account_id();
        let letter = StoredDeadLetter {
            id: delivery.message_id.to_owned(),
            group_id: delivery.group_id.to_owned(),
            kind: item.kind().to_owned(),
            body: delivery.body.to_owned(),
            reason: failure.reason.clone(),
            failure: failure.kind,
            deliveries: delivery.deliveries,
            first_failed_at: delivery.first_delivered_at.unwrap_or(now),
            last_failed_at: now,
        };
        match self.dead_letters.put_dead_letter(account, &letter).await {
            Ok(()) => {
                let about = crate::metrics::of_account(account.as_str());
                crate::metrics::count(crate::metrics::Metric::RecordsGivenUp, &[], &about);
                tracing::error!(
                    account_id = account.as_str(),
                    group_id = delivery.group_id,
                    deliveries = delivery.deliveries,
                    reason = failure.reason.as_str(),
                    "record given up: kept as a dead letter of its account"
                );
                Disposition::GivenUp
            }
            Err(e) => {
                tracing::warn!(account_id = account.as_str(), error = %e, "dead letter not kept; the record is retried");
                retry()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_the_base_up_to_fifteen_minutes_less_a_fifth_at_most() {
        let rule = RetryRule { base: Duration::seconds(10), ..Default::default() };
        for (deliveries, full) in [(1, 10), (2, 20), (3, 40), (7, 640), (8, 900), (40, 900), (u32::MAX, 900)] {
            for _ in 0..20 {
                let d = rule.delay(deliveries).whole_seconds();
                assert!(d <= full && d * 5 >= full * 4 - 5, "delivery {deliveries}: {d} s of {full} s");
            }
        }
        let tiny = RetryRule { base: Duration::ZERO, ..Default::default() };
        assert_eq!(tiny.delay(1), Duration::SECOND, "never less than a second");
    }

    #[test]
    fn given_up_at_the_last_delivery_or_past_the_horizon() {
        let rule = RetryRule { max_receive_count: 5, horizon: Duration::hours(24), base: Duration::seconds(10) };
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(400);
        assert!(!rule.gives_up(4, Some(now - Duration::hours(23)), now));
        assert!(rule.gives_up(5, Some(now), now));
        assert!(rule.gives_up(2, Some(now - Duration::hours(24)), now));
        assert!(!rule.gives_up(2, None, now), "no first delivery known: only the count decides");
    }
}
