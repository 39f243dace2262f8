//! Draining a business's order backlog (issue 23, item 1): the orders Nhanh announced are re-read
//! together, up to [`VersionFacts::order_ids_per_read`](crate::nhanh::VersionFacts::order_ids_per_read)
//! per `order/list` (100 on v3), and applied; each order applied (or failed for good) leaves the
//! backlog only if no newer change of it was recorded meanwhile.
//!
//! Orders of one customer phone are applied one after another, in the order of their changes, so
//! two orders of one new phone never race to create that customer; orders of different phones are
//! applied [`CUSTOMERS_AT_ONCE`] at a time, each reusing the Hub customer its phone last resolved
//! to ([`super::CustomerMemo`]). R8 (echoes) and the versioned writes (never an older
//! state over a newer one) hold as for every order, since each goes through `apply_order`.

use super::outcome::{Failure, OfRecord, Outcome};
use super::Processor;
use crate::domain::FailureKind;
use crate::domain::{Connection, Counter, NhanhBusiness, NhanhId, Origin, Phone, Stream, WorkItem};
use crate::nhanh::{Credentials, Order, OrderFilter, OrderQuery};
use crate::store::{BacklogKey, WaitingOrder};
use futures::StreamExt;
use std::collections::HashMap;

/// How many customers' orders one drain applies at once.
pub const CUSTOMERS_AT_ONCE: usize = 16;

/// Orders a drain round takes when Nhanh reads one id per call (v2): about 2 s of paced calls.
const ROUND_OF_SINGLE_READS: usize = 10;

/// The most pages one read of a list of ids follows (Nhanh answers a list of at most 100 ids in one).
const MAX_ID_PAGES: usize = 10;

/// The record name of a drain on the logs.
const DRAIN_RECORD: &str = "order_drain";

impl Processor {
    /// Drains the backlog of `business` until it is empty (then ends the drain) or the pass budget
    /// is spent (then queues its continuation). A retryable failure leaves the orders not applied
    /// in the backlog and fails the drain, which is retried with the usual backoff.
    pub(super) async fn drain_orders(
        &self,
        conn: &Connection,
        creds: &Credentials,
        business: NhanhBusiness,
    ) -> Result<Outcome, Failure> {
        let key = BacklogKey { account: conn.account_id.clone(), business };
        // A round takes what one call reads (100 on v3); where a call reads one (v2), a round takes
        // ROUND_OF_SINGLE_READS, read one by one, so the backlog is not listed again per order.
        let per_read = match self.nhanh.facts(creds.api_version).order_ids_per_read.clamp(1, 100) {
            1 => ROUND_OF_SINGLE_READS,
            n => n,
        };
        let started = self.clock.now();
        loop {
            if self.clock.now() - started >= self.pass_budget {
                self.continue_drain(&key).await?;
                return Ok(Outcome::Skipped);
            }
            let backlog = self.backlog.backlog(&key).await.of_record(Stream::Orders, DRAIN_RECORD)?;
            if backlog.orders.is_empty() {
                if self.backlog.end_drain(&key, backlog.seq).await.of_record(Stream::Orders, DRAIN_RECORD)? {
                    return Ok(Outcome::Skipped);
                }
                continue;
            }
            // R3: changes recorded before the connected period are dropped.
            let (earlier, current): (Vec<WaitingOrder>, Vec<WaitingOrder>) =
                backlog.orders.into_iter().partition(|o| conn.connected_at.is_some_and(|c| o.recorded_at() < c));
            if !earlier.is_empty() {
                self.backlog.remove_orders(&key, &earlier).await.of_record(Stream::Orders, DRAIN_RECORD)?;
                self.add_count(conn, Counter::Dropped, earlier.len()).await;
            }
            let batch: Vec<WaitingOrder> = current.into_iter().take(per_read).collect();
            if !batch.is_empty() {
                self.drain_batch(conn, creds, &key, &batch).await?;
            }
        }
    }

    /// Reads `batch` from Nhanh in one call (and the pages after it, if Nhanh pages a list of
    /// ids), applies what it found, and removes what is done from the backlog.
    async fn drain_batch(
        &self,
        conn: &Connection,
        creds: &Credentials,
        key: &BacklogKey,
        batch: &[WaitingOrder],
    ) -> Result<(), Failure> {
        let read_at = self.clock.now();
        let orders = self.read_orders(creds, batch.iter().map(|o| o.id).collect()).await?;
        let mut found: HashMap<NhanhId, Order> = orders.into_iter().map(|o| (o.id, o)).collect();
        // One lane per customer phone, in the order the changes were recorded.
        let mut lanes: Vec<(Option<String>, Vec<Order>)> = Vec::new();
        let mut lane_of: HashMap<String, usize> = HashMap::new();
        let mut done: Vec<WaitingOrder> = Vec::new();
        for waiting in batch {
            let Some(order) = found.remove(&waiting.id) else {
                let record = format!("order:{}", waiting.id);
                let gone = FailureKind::GoneFromNhanh;
                self.log_failure(conn, Stream::Orders, &record, gone, "Nhanh no longer has this order".into()).await;
                done.push(*waiting);
                continue;
            };
            match order.customer.mobile.as_deref().and_then(Phone::parse_for_hub) {
                Some(phone) => {
                    let lane = *lane_of.entry(phone.as_str().to_owned()).or_insert_with(|| {
                        lanes.push((Some(phone.as_str().to_owned()), Vec::new()));
                        lanes.len() - 1
                    });
                    lanes[lane].1.push(order);
                }
                None => lanes.push((None, vec![order])),
            }
        }
        let results = self.apply_lanes(conn, lanes, read_at).await;
        let stamps: HashMap<NhanhId, WaitingOrder> = batch.iter().map(|o| (o.id, *o)).collect();
        let mut applied: Vec<WaitingOrder> = Vec::new();
        let mut retry = None;
        for (id, result) in results {
            let Some(waiting) = stamps.get(&id).copied() else { continue };
            // A permanent failure is logged and the order is done; a retryable one keeps it waiting.
            match self.go_on(conn, result).await {
                Ok(Some(Outcome::Applied(_))) => applied.push(waiting),
                Ok(_) => done.push(waiting),
                Err(failure) => {
                    retry.get_or_insert(failure);
                }
            }
        }
        done.extend(applied.iter().copied());
        self.backlog.remove_orders(key, &done).await.of_record(Stream::Orders, DRAIN_RECORD)?;
        if let Some(newest) = applied.iter().map(WaitingOrder::recorded_at).max() {
            let received: Vec<_> = applied.iter().map(WaitingOrder::recorded_at).collect();
            super::settle::lag(&conn.account_id, &received, self.clock.now());
            // The stream's `last_event_at` (when intake recorded the newest change applied) moves
            // before the counter: whoever sees the orders counted sees when their events came.
            let moved = self.stats.add(&conn.account_id, Stream::Orders, Counter::Received, 0, newest).await;
            if let Err(e) = moved {
                tracing::warn!(account_id = conn.account_id.as_str(), error = %e, "last_event_at not moved");
            }
            self.add_count(conn, Counter::Applied, applied.len()).await;
        }
        tracing::info!(
            account_id = conn.account_id.as_str(),
            read = batch.len(),
            applied = applied.len(),
            "orders of the backlog re-read together"
        );
        retry.map_or(Ok(()), Err)
    }

    /// Applies each lane (one customer phone's orders, in the order the changes were recorded)
    /// beside the others, [`CUSTOMERS_AT_ONCE`] at a time; a lane stops at its first retryable
    /// failure, so the customer's later orders wait behind it.
    async fn apply_lanes(
        &self,
        conn: &Connection,
        lanes: Vec<(Option<String>, Vec<Order>)>,
        read_at: time::OffsetDateTime,
    ) -> Vec<(NhanhId, Result<Outcome, Failure>)> {
        futures::stream::iter(lanes)
            .map(|(phone, lane)| async move {
                let mut out = Vec::with_capacity(lane.len());
                // The phone's customer as this instance last resolved it: its orders reuse it.
                let account = &conn.account_id;
                let mut customer = phone.as_ref().and_then(|p| self.customers.get(account, p, self.clock.now()));
                for order in lane {
                    let id = order.id;
                    let result = self.apply_order_remembering(conn, order, read_at, &mut customer).await;
                    let stop = matches!(result, Err(Failure::Retry { .. }));
                    out.push((id, result));
                    if stop {
                        // The customer's later orders wait behind this one.
                        break;
                    }
                }
                if let (Some(phone), Some(resolved)) = (phone, customer) {
                    self.customers.put(account, &phone, resolved, self.clock.now());
                }
                out
            })
            .buffer_unordered(CUSTOMERS_AT_ONCE)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The orders of `ids`, following Nhanh's pages should it page a list of ids.
    async fn read_orders(&self, creds: &Credentials, ids: Vec<NhanhId>) -> Result<Vec<Order>, Failure> {
        let per_page = u32::try_from(ids.len()).unwrap_or(100).clamp(1, 100);
        let mut query = OrderQuery { after: None, per_page, filter: OrderFilter::Ids(ids) };
        let mut orders = Vec::new();
        for _ in 0..MAX_ID_PAGES {
            let page = self.nhanh.orders(creds, &query).await.of_record(Stream::Orders, DRAIN_RECORD)?;
            orders.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        Ok(orders)
    }

    /// Queues the drain's next round (its mark stays: intake queues no second drain).
    async fn continue_drain(&self, key: &BacklogKey) -> Result<(), Failure> {
        let now = self.clock.now();
        let item = WorkItem::OrderDrain { account_id: key.account.clone(), business: key.business, queued_at: now };
        let message = item
            .to_message(Origin::FollowUp(now))
            .map_err(|e| Failure::permanent(FailureKind::Other, Stream::Orders, DRAIN_RECORD, e.to_string()))?;
        self.queue.send(std::slice::from_ref(&message)).await.of_record(Stream::Orders, DRAIN_RECORD)?;
        Ok(())
    }

    /// Adds `amount` to a counter of the orders stream (best effort).
    async fn add_count(&self, conn: &Connection, counter: Counter, amount: usize) {
        let now = self.clock.now();
        let outcome = if counter == Counter::Applied { "applied" } else { "dropped" };
        super::settle::records(&conn.account_id, Stream::Orders, outcome, amount);
        let added = self.stats.add(&conn.account_id, Stream::Orders, counter, amount as u64, now).await;
        if let Err(e) = added {
            tracing::warn!(account_id = conn.account_id.as_str(), error = %e, "counter not updated");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AppId, BusinessId};
    use crate::nhanh::{OrderCustomer, OrderLine, OrderStatus};
    use crate::services::process::BatchRecord;
    use crate::store::{Backlog, OrderBacklog, StatsStore, StoreError};
    use crate::testing::{processor_fixture, ProcessorFixture};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use time::OffsetDateTime;

    fn business() -> NhanhBusiness {
        NhanhBusiness { app_id: AppId::new(1).unwrap(), business_id: BusinessId::new(10).unwrap() }
    }

    fn order(id: u64, phone: &str, status: &str, created: OffsetDateTime) -> Order {
        Order {
            id: NhanhId::new(id).unwrap(),
            shop_order_id: None,
            status: OrderStatus::from_name(status),
            sale_channel: Some(1),
            customer: OrderCustomer {
                name: Some("Lan".into()),
                mobile: Some(phone.into()),
                email: None,
                address: None,
            },
            items: vec![OrderLine {
                product_id: None,
                code: Some("SP5".into()),
                name: Some("Áo".into()),
                quantity: 1.0,
                price: 100_000,
                discount: 0,
            }],
            money_discount: 0,
            money_used_points: 0,
            customer_ship_fee: 0,
            description: None,
            created_at: Some(created),
            updated_at: None,
        }
    }

    fn drain_record(f: &ProcessorFixture) -> BatchRecord {
        let item = WorkItem::OrderDrain { account_id: f.account.clone(), business: business(), queued_at: f.now };
        BatchRecord {
            message_id: "drain".into(),
            group_id: item.group_id(),
            body: serde_json::to_string(&item).unwrap(),
        }
    }

    async fn announce(f: &ProcessorFixture, ids: &[u64], at: OffsetDateTime) {
        let key = BacklogKey { account: f.account.clone(), business: business() };
        let ids: Vec<NhanhId> = ids.iter().map(|i| NhanhId::new(*i).unwrap()).collect();
        f.store.add_orders(&key, &ids, at, at).await.unwrap();
    }

    /// A flash sale's changes: 250 orders of 50 customers, re-read in three calls, each order in
    /// the Hub once, one customer per phone, the backlog empty and its drain ended.
    #[tokio::test]
    async fn a_backlog_of_250_orders_is_read_in_three_calls_and_applied_once() {
        let f = processor_fixture().await;
        let later = f.now + time::Duration::minutes(1);
        for i in 0..250u64 {
            let phone = format!("09120000{:02}", i % 50);
            f.nhanh.orders.lock().unwrap().insert(1000 + i, order(1000 + i, &phone, "New", later));
        }
        let ids: Vec<u64> = (0..250).map(|i| 1000 + i).collect();
        announce(&f, &ids, later).await;
        let calls = f.nhanh.calls.load(Ordering::SeqCst);
        assert!(f.processor.process_batch(&[drain_record(&f)]).await.is_empty());
        assert_eq!(f.nhanh.calls.load(Ordering::SeqCst) - calls, 3, "100 + 100 + 50 ids per read");
        assert_eq!(f.hub.all("orders").len(), 250);
        assert_eq!(f.hub.all("customers").len(), 50, "orders of one phone never race to create it");
        let key = BacklogKey { account: f.account.clone(), business: business() };
        let left = f.store.backlog(&key).await.unwrap();
        assert!(left.orders.is_empty() && left.drain_since.is_none(), "{left:?}");
        let stats = f.store.stats(&f.account).await.unwrap();
        assert_eq!(stats.streams["orders"].applied, 250);
    }

    /// A later drain of one phone's order reuses the Hub customer an earlier drain resolved (no
    /// lookup), unless the order's customer fields changed (then it is looked up and updated).
    #[tokio::test]
    async fn a_later_drain_reuses_the_customer_of_the_phone_unless_its_fields_changed() {
        let f = processor_fixture().await;
        let later = f.now + time::Duration::minutes(1);
        let hub_calls = || f.hub.calls.load(Ordering::SeqCst);
        let drain = |id: u64, name: &str| {
            let mut o = order(id, "0912345678", "New", later);
            o.customer.name = Some(name.into());
            f.nhanh.orders.lock().unwrap().insert(id, o);
            let f = &f;
            async move {
                announce(f, &[id], later).await;
                assert!(f.processor.process_batch(&[drain_record(f)]).await.is_empty());
            }
        };
        drain(1, "Lan").await;
        let before = hub_calls();
        drain(2, "Lan").await;
        assert_eq!(hub_calls() - before, 1, "the order's create only: the customer is remembered");
        let before = hub_calls();
        drain(3, "Lan Anh").await;
        assert_eq!(hub_calls() - before, 3, "a lookup, the customer's update, the order's create");
        let customers = f.hub.all("customers");
        assert_eq!(customers.len(), 1);
        assert_eq!(customers[0]["name"], "Lan Anh");
        assert_eq!(f.hub.all("orders").len(), 3);
    }

    /// A backlog that records a newer change of an order while the drain applies its older one:
    /// the first removal of the drain meets it (driven by state, not timing).
    struct ChangeDuringDrain {
        inner: Arc<crate::store::memory::MemoryStore>,
        fixture_nhanh: Arc<crate::testing::fakes::FakeNhanh>,
        order: Order,
        at: OffsetDateTime,
        done: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl OrderBacklog for ChangeDuringDrain {
        async fn add_orders(
            &self,
            key: &BacklogKey,
            ids: &[NhanhId],
            at: OffsetDateTime,
            stale: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            self.inner.add_orders(key, ids, at, stale).await
        }
        async fn unmark_drain(&self, key: &BacklogKey, at: OffsetDateTime) -> Result<(), StoreError> {
            self.inner.unmark_drain(key, at).await
        }
        async fn backlog(&self, key: &BacklogKey) -> Result<Backlog, StoreError> {
            self.inner.backlog(key).await
        }
        async fn remove_orders(&self, key: &BacklogKey, orders: &[WaitingOrder]) -> Result<(), StoreError> {
            if !self.done.swap(true, Ordering::SeqCst) {
                // Nhanh changes the order and its webhook lands before the drain removes it.
                self.fixture_nhanh.orders.lock().unwrap().insert(self.order.id.get(), self.order.clone());
                self.inner.add_orders(key, &[self.order.id], self.at, self.at).await?;
            }
            self.inner.remove_orders(key, orders).await
        }
        async fn end_drain(&self, key: &BacklogKey, seq: u64) -> Result<bool, StoreError> {
            self.inner.end_drain(key, seq).await
        }
    }

    #[tokio::test]
    async fn a_change_recorded_while_the_drain_applies_stays_and_is_applied_next() {
        let mut f = processor_fixture().await;
        let later = f.now + time::Duration::minutes(1);
        f.nhanh.orders.lock().unwrap().insert(7, order(7, "0912345678", "New", later));
        announce(&f, &[7], later).await;
        f.processor.backlog = Arc::new(ChangeDuringDrain {
            inner: f.store.clone(),
            fixture_nhanh: f.nhanh.clone(),
            order: order(7, "0912345678", "Confirmed", later),
            at: later + time::Duration::seconds(1),
            done: Default::default(),
        });
        let calls = f.nhanh.calls.load(Ordering::SeqCst);
        assert!(f.processor.process_batch(&[drain_record(&f)]).await.is_empty());
        assert_eq!(f.nhanh.calls.load(Ordering::SeqCst) - calls, 2, "the newer change is read again");
        let orders = f.hub.all("orders");
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0]["status"], "confirmed", "{orders:?}");
    }

    /// A rate lock fails the drain for a retry at the unlock, and nothing leaves the backlog.
    #[tokio::test]
    async fn a_rate_lock_keeps_the_backlog_and_retries_the_drain_at_the_unlock() {
        let f = processor_fixture().await;
        let later = f.now + time::Duration::minutes(1);
        f.nhanh.orders.lock().unwrap().insert(7, order(7, "0912345678", "New", later));
        announce(&f, &[7], later).await;
        let unlock = f.now + time::Duration::seconds(10);
        *f.nhanh.orders_locked_until.lock().unwrap() = Some(unlock);
        let failed = f.processor.process_batch(&[drain_record(&f)]).await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].not_before, Some(unlock));
        let key = BacklogKey { account: f.account.clone(), business: business() };
        assert_eq!(f.store.backlog(&key).await.unwrap().orders.len(), 1);
    }
}
