//! Hub outages (issue 23, item 3): a record that meets a Hub answering 5xx (or nothing) to call
//! after call is parked, not retried against it.
//!
//! [`OPEN_AFTER`] Hub failures in a row in one instance (each after the client's own retries),
//! spanning at least [`OutageGuard::streak`] (10 s: a blip of two or three 5xx is retried as
//! usual), open the fleet's outage and queue the probe. While it is open, every record is parked in the table
//! and acknowledged as it arrives, so a 30-minute or a 24-hour outage spends no delivery of any
//! record; scheduled passes are skipped instead (the next tick runs them, from their cursors). The
//! probe ([`crate::domain::WorkItem::HubProbe`]) calls the Hub every [`OutageGuard::probe_every`]
//! as the account whose failure opened the outage; once the Hub answers anything but 5xx, it ends
//! the outage and queues every parked record again in its own message group, oldest first, so
//! everything applies within seconds of the recovery, with nothing done by hand.
//!
//! Decision (the contract is silent on health checks): the probe is a one-item listing of the
//! account's Hub-created customers since now, the cheapest read the contract has. An instance
//! trusts its last read of the outage for [`RECHECK`]; a record is parked only while the outage is
//! still open in the table, so none is parked after the probe brought the parked ones back.

use super::outcome::{BatchRecord, Failure, Outcome, Unapplied};
use super::Processor;
use crate::domain::{AccountId, Origin, Stream, WorkItem};
use crate::hub::HubError;
use crate::queue::QueueMessage;
use crate::store::{HubOutage, OutageStore, ParkedRecord};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Hub failures in a row (in one instance) that open an outage.
pub const OPEN_AFTER: u32 = 3;
/// How often the probe calls the Hub, unless configured otherwise (`HUB_PROBE_SECS`).
pub const DEFAULT_PROBE_EVERY: Duration = Duration::from_secs(10);
/// How long an instance trusts its last read of the outage item.
pub const RECHECK: Duration = Duration::from_secs(5);
/// How long failures in a row must last to open an outage, unless configured otherwise.
pub const DEFAULT_STREAK: Duration = Duration::from_secs(10);
/// Parked records queued again per round of the recovery.
const UNPARK_PAGE: usize = 100;

/// One instance's view of the Hub's health, and the table it shares with the others.
pub struct OutageGuard {
    /// The outage and its parked records.
    pub store: Arc<dyn OutageStore>,
    /// How often the probe calls the Hub.
    pub probe_every: Duration,
    /// How long failures in a row must last to open an outage.
    pub streak: Duration,
    seen: Mutex<Option<(Instant, Option<HubOutage>)>>,
    /// Hub failures in a row, and when the first of them came.
    failures_in_a_row: Mutex<(u32, Option<Instant>)>,
}

impl OutageGuard {
    /// A guard over `store`, probing every [`DEFAULT_PROBE_EVERY`].
    pub fn new(store: Arc<dyn OutageStore>) -> Self {
        Self {
            store,
            probe_every: DEFAULT_PROBE_EVERY,
            streak: DEFAULT_STREAK,
            seen: Mutex::new(None),
            failures_in_a_row: Mutex::new((0, None)),
        }
    }

    /// The same guard opening an outage after failures in a row lasting `streak`.
    pub fn with_streak(mut self, streak: Duration) -> Self {
        self.streak = streak;
        self
    }

    /// The same guard probing every `every`.
    pub fn with_probe_every(mut self, every: Duration) -> Self {
        self.probe_every = every;
        self
    }

    /// The outage under way, as last read (read again after [`RECHECK`]). A failed read counts as
    /// no outage: the record then meets the Hub itself.
    async fn current(&self) -> Option<HubOutage> {
        if let Ok(seen) = self.seen.lock() {
            if let Some((at, outage)) = seen.as_ref() {
                if at.elapsed() < RECHECK {
                    return outage.clone();
                }
            }
        }
        let read = match self.store.hub_outage().await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "the Hub outage could not be read");
                return None;
            }
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((Instant::now(), read.clone()));
        }
        read
    }

    /// Forgets the last read (the next one goes to the table).
    fn forget(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = None;
        }
    }

    fn note_success(&self) {
        if let Ok(mut streak) = self.failures_in_a_row.lock() {
            *streak = (0, None);
        }
    }

    /// Counts a Hub failure; whether [`OPEN_AFTER`] came in a row over [`OutageGuard::streak`].
    fn note_failure(&self) -> bool {
        let Ok(mut streak) = self.failures_in_a_row.lock() else { return false };
        let started = *streak.1.get_or_insert_with(Instant::now);
        streak.0 += 1;
        streak.0 >= OPEN_AFTER && started.elapsed() >= self.streak
    }
}

/// Queues a Hub probe calling as `account`, due at `at`.
pub async fn queue_probe(
    queue: &dyn crate::queue::WorkQueue,
    account: &AccountId,
    at: OffsetDateTime,
) -> Result<(), crate::Error> {
    let probe = WorkItem::HubProbe { account_id: account.clone(), queued_at: at };
    let message = probe.to_message(Origin::FollowUp(at)).map_err(|e| crate::Error::Invalid(e.to_string()))?;
    queue.send(std::slice::from_ref(&message)).await?;
    Ok(())
}

impl Processor {
    /// Parks `record` when a Hub outage is open (`Some`: answered so, nothing else to do).
    pub(super) async fn hold_for_outage(&self, record: &BatchRecord, item: &WorkItem) -> Option<Result<(), Unapplied>> {
        if matches!(item, WorkItem::HubProbe { .. }) {
            return None;
        }
        self.outage.current().await?;
        self.park_record(record, item).await
    }

    /// What applying `item` said of the Hub: a success resets the count of failures in a row; a
    /// Hub failure counts, opens the outage at [`OPEN_AFTER`] (queuing the probe), and parks the
    /// record while an outage is open (`Some`).
    pub(super) async fn heed_hub(
        &self,
        record: &BatchRecord,
        item: &WorkItem,
        result: &Result<Outcome, Failure>,
    ) -> Option<Result<(), Unapplied>> {
        let reason = match result {
            Err(Failure::Retry { hub_down: true, reason, .. }) => reason,
            Ok(_) => {
                self.outage.note_success();
                return None;
            }
            Err(_) => return None,
        };
        if matches!(item, WorkItem::HubProbe { .. }) {
            return None;
        }
        if self.outage.note_failure() {
            self.open_outage(item.account_id(), reason).await;
        }
        self.outage.forget();
        self.outage.current().await?;
        self.park_record(record, item).await
    }

    /// Opens the outage (unless one is) and, when this call opened it, queues the probe.
    async fn open_outage(&self, account: &AccountId, reason: &str) {
        let now = self.clock.now();
        let outage = HubOutage { since: now, account: account.clone(), reason: reason.to_owned(), probed_at: None };
        match self.outage.store.open_hub_outage(&outage).await {
            Ok(true) => {
                tracing::error!(
                    account_id = account.as_str(),
                    reason,
                    "Hub outage: records are parked until it answers"
                );
                if let Err(e) = self.queue_probe(account, now).await {
                    tracing::error!(error = %e, "the Hub probe could not be queued");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the Hub outage could not be recorded"),
        }
    }

    async fn queue_probe(&self, account: &AccountId, now: OffsetDateTime) -> Result<(), crate::Error> {
        queue_probe(self.queue.as_ref(), account, now).await
    }

    /// Parks the record (a scheduled pass is skipped instead); `None` when the outage ended
    /// meanwhile or the table failed (the record is then applied, or retried, as usual).
    async fn park_record(&self, record: &BatchRecord, item: &WorkItem) -> Option<Result<(), Unapplied>> {
        let account = item.account_id();
        if matches!(item, WorkItem::ReconcileAccount { .. }) {
            tracing::info!(
                account_id = account.as_str(),
                "scheduled pass skipped during a Hub outage: the next tick runs it"
            );
            return Some(Ok(()));
        }
        let parked = ParkedRecord {
            parked_at: self.clock.now(),
            account: account.clone(),
            message_id: record.message_id.clone(),
            group_id: record.group_id.clone(),
            body: record.body.clone(),
        };
        match self.outage.store.park(&parked).await {
            Ok(true) => {
                tracing::info!(account_id = account.as_str(), "record parked during a Hub outage");
                Some(Ok(()))
            }
            Ok(false) => {
                self.outage.forget();
                None
            }
            Err(e) => {
                tracing::warn!(account_id = account.as_str(), error = %e, "record not parked");
                None
            }
        }
    }

    /// The probe: calls the Hub every [`OutageGuard::probe_every`] for about the pass budget; once
    /// it answers, ends the outage and queues the parked records again. Queues its successor when
    /// the Hub stays down or parked records remain.
    pub(super) async fn probe_hub(&self, account: &AccountId, due: OffsetDateTime) -> Result<Outcome, Failure> {
        // A successor's first call waits out the interval its predecessor's last call began.
        let ahead = (due - self.clock.now()).clamp(
            time::Duration::ZERO,
            time::Duration::try_from(self.outage.probe_every).unwrap_or(time::Duration::ZERO),
        );
        tokio::time::sleep(ahead.unsigned_abs()).await;
        let started = Instant::now();
        let budget = self.pass_budget.unsigned_abs().max(self.outage.probe_every * 2);
        let retry = |e: crate::Error| super::outcome::classify(Stream::Reconcile, "hub_probe", e);
        loop {
            let outage = self.outage.store.hub_outage().await.map_err(|e| retry(e.into()))?;
            if let Some(outage) = outage {
                let now = self.clock.now();
                match self.hub.hub_customers(&outage.account, now, 1, 1).await {
                    Err(HubError::Unavailable(reason)) => {
                        tracing::info!(reason = reason.as_str(), "Hub probe: still down");
                        if let Err(e) = self.outage.store.probed(outage.since, now).await {
                            tracing::warn!(error = %e, "the probe's call was not recorded");
                        }
                        if started.elapsed() + self.outage.probe_every > budget {
                            let next =
                                now + time::Duration::try_from(self.outage.probe_every).unwrap_or(time::Duration::ZERO);
                            self.queue_probe(account, next).await.map_err(retry)?;
                            return Ok(Outcome::Skipped);
                        }
                        tokio::time::sleep(self.outage.probe_every).await;
                        continue;
                    }
                    _ => {
                        let down_for = (now - outage.since).whole_seconds();
                        tracing::warn!(down_for_secs = down_for, "Hub probe: the Hub answers; outage ended");
                        self.outage.store.close_hub_outage(outage.since).await.map_err(|e| retry(e.into()))?;
                        self.outage.forget();
                    }
                }
            }
            // Bring the parked records back, oldest first.
            loop {
                let parked = self.outage.store.parked(UNPARK_PAGE).await.map_err(|e| retry(e.into()))?;
                if parked.is_empty() {
                    return Ok(Outcome::Skipped);
                }
                let messages: Vec<QueueMessage> = parked
                    .iter()
                    .map(|p| QueueMessage {
                        group_id: p.group_id.clone(),
                        dedup_id: format!("unpark:{}:{}", p.message_id, p.parked_at.unix_timestamp_nanos() / 1_000_000),
                        body: p.body.clone(),
                    })
                    .collect();
                self.queue.send(&messages).await.map_err(|e| retry(e.into()))?;
                self.outage.store.unpark(&parked).await.map_err(|e| retry(e.into()))?;
                tracing::info!(records = parked.len(), "parked records queued again");
                if started.elapsed() > budget {
                    self.queue_probe(account, self.clock.now()).await.map_err(retry)?;
                    return Ok(Outcome::Skipped);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiVersion, NhanhId};
    use crate::nhanh::{Product, ProductStatus, WebhookKind};
    use crate::queue::memory::MemoryQueue;
    use crate::testing::{processor_fixture, ProcessorFixture};
    use std::sync::atomic::Ordering;

    fn product_change(f: &ProcessorFixture, id: u64) -> BatchRecord {
        f.nhanh.products.lock().unwrap().insert(
            id,
            Product {
                id: NhanhId::new(id).unwrap(),
                parent_id: None,
                category_id: None,
                code: Some(format!("SP{id}")),
                barcode: None,
                name: format!("Áo {id}"),
                price: Some(1000),
                status: Some(ProductStatus::Active),
                image: None,
                created_at: None,
            },
        );
        let item = WorkItem::NhanhChange {
            account_id: f.account.clone(),
            api_version: ApiVersion::V3,
            received_at: f.now,
            event: "productUpdate".into(),
            change: WebhookKind::ProductChanged,
            record_id: NhanhId::new(id).unwrap(),
            business: None,
        };
        BatchRecord {
            message_id: format!("m{id}"),
            group_id: item.group_id(),
            body: serde_json::to_string(&item).unwrap(),
        }
    }

    fn as_record(message: &QueueMessage, n: usize) -> BatchRecord {
        BatchRecord { message_id: format!("q{n}"), group_id: message.group_id.clone(), body: message.body.clone() }
    }

    /// A Hub down for good: three failures in a row open the outage; from then on every record is
    /// parked without a Hub call (a scheduled pass is skipped); the probe, while the Hub is down,
    /// queues its successor; once the Hub answers, it ends the outage and queues every parked
    /// record again in its own group, and they apply.
    #[tokio::test]
    async fn an_outage_parks_records_without_calling_the_hub_and_the_probe_brings_them_back() {
        let mut f = processor_fixture().await;
        let queue = Arc::new(MemoryQueue::default());
        f.processor.queue = queue.clone();
        f.processor.pass_budget = time::Duration::ZERO;
        f.processor.outage =
            OutageGuard::new(f.store.clone()).with_probe_every(Duration::from_millis(10)).with_streak(Duration::ZERO);
        f.hub.down.store(true, Ordering::SeqCst);
        for id in 1..=2 {
            assert_eq!(f.processor.process_batch(&[product_change(&f, id)]).await.len(), 1, "retried as usual");
        }
        assert!(f.processor.process_batch(&[product_change(&f, 3)]).await.is_empty(), "the third opens and parks");
        let outage = f.store.hub_outage().await.unwrap().expect("open");
        assert_eq!(outage.account, f.account);
        let calls = f.hub.down_calls.load(Ordering::SeqCst);
        let pass = WorkItem::ReconcileAccount { account_id: f.account.clone(), tick: f.now, resume: None };
        let pass = BatchRecord {
            message_id: "pass".into(),
            group_id: pass.group_id(),
            body: serde_json::to_string(&pass).unwrap(),
        };
        let mut batch: Vec<BatchRecord> = (4..=6).map(|id| product_change(&f, id)).collect();
        batch.push(pass);
        assert!(f.processor.process_batch(&batch).await.is_empty(), "parked or skipped: acknowledged");
        assert_eq!(f.hub.down_calls.load(Ordering::SeqCst), calls, "no Hub call during the outage");
        assert_eq!(f.store.parked(100).await.unwrap().len(), 4, "records 3 to 6; the pass is not parked");

        let probes: Vec<QueueMessage> = queue.messages().into_iter().filter(|m| m.group_id == "hub:probe").collect();
        assert_eq!(probes.len(), 1, "the outage queued its probe");
        queue.clear();
        assert!(f.processor.process_batch(&[as_record(&probes[0], 0)]).await.is_empty());
        let next = queue.messages();
        assert_eq!(next.len(), 1, "still down: the probe queued its successor");
        assert_eq!(next[0].group_id, "hub:probe");
        assert!(f.store.hub_outage().await.unwrap().is_some());

        f.hub.down.store(false, Ordering::SeqCst);
        queue.clear();
        assert!(f.processor.process_batch(&[as_record(&next[0], 1)]).await.is_empty());
        assert!(f.store.hub_outage().await.unwrap().is_none(), "the Hub answered: outage ended");
        assert!(f.store.parked(100).await.unwrap().is_empty());
        let back = queue.messages();
        let groups: Vec<&str> = back.iter().map(|m| m.group_id.as_str()).collect();
        let expected: Vec<String> = (3..=6).map(|id| format!("{}:product:{id}", f.account.as_str())).collect();
        assert_eq!(groups, expected.iter().map(String::as_str).collect::<Vec<_>>(), "oldest first, own groups");
        let records: Vec<BatchRecord> = back.iter().enumerate().map(|(n, m)| as_record(m, 10 + n)).collect();
        assert!(f.processor.process_batch(&records).await.is_empty());
        assert_eq!(f.hub.all("products").len(), 4);
    }

    /// The outage ends between an instance's read and its park: the park is refused and the record
    /// applied, so nothing is parked after the probe brought the parked records back.
    #[tokio::test]
    async fn a_record_is_never_parked_once_the_outage_has_ended() {
        let f = processor_fixture().await;
        let outage = HubOutage { since: f.now, account: f.account.clone(), reason: "503".into(), probed_at: None };
        assert!(f.store.open_hub_outage(&outage).await.unwrap());
        // This instance reads the outage open and keeps that view for RECHECK.
        assert!(f.processor.outage.current().await.is_some());
        f.store.close_hub_outage(f.now).await.unwrap();
        assert!(f.processor.process_batch(&[product_change(&f, 9)]).await.is_empty());
        assert!(f.store.parked(10).await.unwrap().is_empty());
        assert_eq!(f.hub.all("products").len(), 1, "applied");
    }
}
