//! The schedule's tick (R11): pages the connected accounts and queues one `ReconcileAccount`
//! work item per account due, so each account's pass runs in its own message group.
//!
//! Passes are spread over the interval (issue 23, item 5): the schedule ticks every minute, and
//! with an interval of N minutes each account has a fixed slot (a hash of its id, modulo N) and is
//! queued on the ticks of its slot only. A tick for 10 000 accounts every 5 minutes queues about
//! 2 000 passes a minute instead of 10 000 at once, so webhooks queued meanwhile do not wait
//! behind them. An explicit run with `{"all": true}` queues every account (operators, tests).
//!
//! Each tick also keeps a Hub outage from outliving its probe: when an outage is open and its
//! probe has not called the Hub for [`PROBE_LOST_AFTER`] (its chain lost: a send that failed, a
//! probe given up), the tick queues a new probe, so parked records never wait forever.

use crate::clock::Clock;
use crate::domain::{AccountId, Origin, WorkItem};
use crate::queue::{QueueMessage, WorkQueue};
use crate::store::{ConnectionStore, OutageStore};
use crate::Error;
use std::sync::Arc;
use time::OffsetDateTime;

/// Queues the scheduled passes.
pub struct Scheduler {
    /// Connections.
    pub connections: Arc<dyn ConnectionStore>,
    /// The work queue.
    pub queue: Arc<dyn WorkQueue>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Minutes between two passes of one account, with a tick every minute (`PASS_INTERVAL_MINUTES`;
    /// 1: every account at every tick).
    pub interval_minutes: u32,
    /// The Hub outage, watched for a lost probe.
    pub outages: Arc<dyn OutageStore>,
}

/// How long an open outage's probe may go without calling the Hub before a tick queues another.
pub const PROBE_LOST_AFTER: time::Duration = time::Duration::minutes(2);

/// The slot of `account` among `slots` (stable across releases and instances: SHA-256 based).
pub fn slot_of(account: &AccountId, slots: u32) -> u32 {
    let digest = crate::domain::work::sha256_hex(&[account.as_str().as_bytes()]);
    let head = digest.get(..8).and_then(|h| u32::from_str_radix(h, 16).ok()).unwrap_or(0);
    head % slots.max(1)
}

/// Whether `account` is due at the tick of `at` (its minute's slot).
pub fn due(account: &AccountId, at: OffsetDateTime, interval_minutes: u32) -> bool {
    let slots = interval_minutes.max(1);
    let minute = at.unix_timestamp().div_euclid(60);
    let current = u32::try_from(minute.rem_euclid(i64::from(slots))).unwrap_or(0);
    slot_of(account, slots) == current
}

impl Scheduler {
    /// One tick: returns how many accounts were queued (those due, or all when `all`). Two ticks
    /// of the same minute collapse (deduplication id per account and minute).
    pub async fn tick(&self, all: bool) -> Result<usize, Error> {
        let tick = self.clock.now();
        self.revive_probe(tick).await;
        let mut cursor = None;
        let mut queued = 0;
        loop {
            let (accounts, next) = self.connections.connected_accounts(cursor).await?;
            let messages = accounts
                .iter()
                .filter(|a| all || due(a, tick, self.interval_minutes))
                .map(|a| {
                    WorkItem::ReconcileAccount { account_id: a.clone(), tick, resume: None }
                        .to_message(Origin::Schedule)
                })
                .collect::<Result<Vec<QueueMessage>, _>>()
                .map_err(|e| Error::Invalid(e.to_string()))?;
            self.queue.send(&messages).await.map_err(Error::Queue)?;
            queued += messages.len();
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        tracing::info!(accounts = queued, all, "scheduled pass queued");
        Ok(queued)
    }

    /// Queues a probe for an open outage whose probe went quiet (best effort: the next tick tries
    /// again).
    async fn revive_probe(&self, now: OffsetDateTime) {
        let outage = match self.outages.hub_outage().await {
            Ok(Some(outage)) => outage,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the Hub outage could not be read");
                return;
            }
        };
        let last = outage.probed_at.unwrap_or(outage.since);
        if now - last < PROBE_LOST_AFTER {
            return;
        }
        tracing::warn!(account_id = outage.account.as_str(), "the Hub outage's probe went quiet: a new one is queued");
        if let Err(e) = crate::services::process::queue_probe(self.queue.as_ref(), &outage.account, now).await {
            tracing::error!(error = %e, "the Hub probe could not be queued");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::domain::ConnectionState;
    use crate::queue::memory::MemoryQueue;
    use crate::testing::intake_fixture;

    /// Over one interval each account is queued exactly once, a tick queues a fifth of them, and
    /// `all` queues every one.
    #[tokio::test]
    async fn passes_are_spread_over_the_interval_one_per_account() {
        let f = intake_fixture();
        let mut accounts = Vec::new();
        for i in 0..100u64 {
            accounts.push(f.connect(&format!("acct-{i}"), 1, 100 + i, "tok", ConnectionState::Active).await);
        }
        let start = OffsetDateTime::from_unix_timestamp(1_796_000_040).unwrap();
        let mut seen = std::collections::HashMap::<String, usize>::new();
        let mut per_tick = Vec::new();
        for minute in 0..5 {
            let queue = Arc::new(MemoryQueue::default());
            let scheduler = Scheduler {
                connections: f.store.clone(),
                queue: queue.clone(),
                clock: Arc::new(FixedClock(start + time::Duration::minutes(minute))),
                interval_minutes: 5,
                outages: f.store.clone(),
            };
            per_tick.push(scheduler.tick(false).await.unwrap());
            for m in queue.messages() {
                *seen.entry(m.group_id).or_default() += 1;
            }
        }
        assert_eq!(seen.len(), 100, "every account once in five ticks");
        assert!(seen.values().all(|n| *n == 1));
        assert!(per_tick.iter().all(|n| (8..=35).contains(n)), "about a fifth a tick: {per_tick:?}");
        let queue = Arc::new(MemoryQueue::default());
        let scheduler = Scheduler {
            connections: f.store.clone(),
            queue: queue.clone(),
            clock: Arc::new(FixedClock(start)),
            interval_minutes: 5,
            outages: f.store.clone(),
        };
        assert_eq!(scheduler.tick(true).await.unwrap(), 100);
        assert!(accounts.iter().all(|a| slot_of(a, 1) == 0), "one slot: every tick");
    }

    /// An open outage whose probe went quiet gets a new probe at the next tick; a probe that
    /// called within the last two minutes gets none (no second chain).
    #[tokio::test]
    async fn a_tick_queues_a_probe_for_an_outage_whose_probe_went_quiet() {
        use crate::store::{HubOutage, OutageStore};
        let f = intake_fixture();
        let account = f.connect("acct-1", 1, 100, "tok", ConnectionState::Active).await;
        let start = OffsetDateTime::from_unix_timestamp(1_796_000_040).unwrap();
        let outage = HubOutage { since: start, account, reason: "503".into(), probed_at: None };
        assert!(f.store.open_hub_outage(&outage).await.unwrap());
        let probes_at = |at: OffsetDateTime| {
            let store = f.store.clone();
            async move {
                let queue = Arc::new(MemoryQueue::default());
                let scheduler = Scheduler {
                    connections: store.clone(),
                    queue: queue.clone(),
                    clock: Arc::new(FixedClock(at)),
                    interval_minutes: 5,
                    outages: store,
                };
                scheduler.tick(false).await.unwrap();
                queue.messages().iter().filter(|m| m.group_id == "hub:probe").count()
            }
        };
        assert_eq!(probes_at(start + time::Duration::minutes(1)).await, 0, "its probe is young");
        f.store.probed(start, start + time::Duration::minutes(2)).await.unwrap();
        assert_eq!(probes_at(start + time::Duration::minutes(3)).await, 0, "its probe called a minute ago");
        assert_eq!(probes_at(start + time::Duration::minutes(5)).await, 1, "quiet for three minutes");
    }
}
