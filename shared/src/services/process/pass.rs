//! The scheduled pass (R11), as a processor step.
//!
//! A `ReconcileAccount` item starts a due initial sync (see [`super::sync`]), then pulls per stream
//! what changed since its cursor, with an overlap: Nhanh orders by update time in windows no longer
//! than the adapter's order window (10 days on v2, 30 on v3), Nhanh products by update time, Hub-created customers and orders
//! (`origin=hub`). A cursor moves only after every record of its window was applied; nothing
//! before `connected_at` is pulled (R3), so a disconnected period is never back-filled. Rate limits
//! end the pass with a retry at the unlock time; finished streams keep their moved cursors. A pass
//! that outlasts its invocation's budget continues in a new work item with the same window.

use super::initial_sync::PAGE_SIZE;
use super::outcome::{err, Failure, Outcome};
use super::Processor;
use crate::domain::Stream;
use crate::domain::{
    AccountId, Connection, Counter, HubId, InitialSyncState, Origin, PassResume, PassStream, WorkItem,
};
use crate::hub::HubCustomer;
use crate::nhanh::{self, Credentials, OrderFilter, OrderQuery, PageToken, ProductQuery};
use crate::store::Entity;
use crate::Error;
use time::{Duration, OffsetDateTime};

/// How far back a pass re-reads before its cursor (`>=`), for late or clock-skewed changes.
pub const OVERLAP: Duration = Duration::minutes(5);
/// Cursor name of the instant a pass last handed its rest to a continuation (UNIX epoch: none).
const CONTINUED: &str = "pass_continued";
/// Cursor name of the last tick held back by a continued pass (it gets a pass when the chain ends).
const WANTED: &str = "pass_wanted";
/// How long a continuation keeps fresh ticks of the account from starting passes of their own.
const CONTINUATION_GRACE: Duration = Duration::minutes(10);
/// How long one invocation works on a pass before handing the rest to a new work item (the
/// processor's Lambda timeout is 30 s; a page can take several seconds).
pub const DEFAULT_PASS_BUDGET: Duration = Duration::seconds(15);

use super::listing::{at_page_cap, hub_page, Budget, Stopped, Window};

impl Processor {
    /// [`Processor::run_pass`], counted and timed for the metrics (`PassesRun`, `PassDuration`).
    pub(super) async fn run_pass_measured(
        &self,
        conn: &Connection,
        creds: &Credentials,
        resume: Option<PassResume>,
    ) -> Result<Outcome, Failure> {
        let started = std::time::Instant::now();
        let result = self.run_pass(conn, creds, resume).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let about = crate::metrics::of_account(conn.account_id.as_str());
        crate::metrics::count(crate::metrics::Metric::PassesRun, &[], &about);
        crate::metrics::emit(crate::metrics::Metric::PassDuration, &[ms], &[], &about);
        result
    }

    /// The scheduled pass of one account, or its continuation after `resume`. Reads stream after
    /// stream until done; once the invocation's budget is spent (after at least one page), it
    /// queues a continuation with the same window and acknowledges this item.
    pub(super) async fn run_pass(
        &self,
        conn: &Connection,
        creds: &Credentials,
        resume: Option<PassResume>,
    ) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        if conn.initial_sync.as_ref().is_some_and(|s| s.state == InitialSyncState::Due) {
            self.start_initial_sync(conn, creds).await?;
        }
        let started = self.clock.now();
        let floor = conn.connected_at.unwrap_or(started);
        if resume.as_ref().is_some_and(|r| r.from < floor) {
            // A continuation from an earlier connected period: nothing of it may be read (R3).
            tracing::info!(account_id = account.as_str(), "continuation of a pass from an earlier connection dropped");
            return Ok(Outcome::Skipped);
        }
        if resume.is_none() && self.left_to_a_continuation(account, started, floor).await? {
            return Ok(Outcome::Skipped);
        }
        // Nhanh filters by whole seconds: a pass reads only seconds already over, so nothing that
        // happens while it runs (a disconnect, say) can fall inside its window; the next pass's
        // overlap reads the rest.
        let until = resume.as_ref().map_or(started - Duration::seconds(2), |r| r.until);
        let mut budget = Budget::until(self.work_until(started));
        let first = resume.as_ref().and_then(|r| PassStream::ALL.iter().position(|s| *s == r.stream)).unwrap_or(0);
        for (i, stream) in PassStream::ALL.into_iter().enumerate().skip(first) {
            if stream == PassStream::NhanhProducts
                && conn.initial_sync.as_ref().is_some_and(|s| s.state != InitialSyncState::Done)
            {
                continue;
            }
            let (from, after, pages) = match resume.as_ref().filter(|_| i == first) {
                // A continuation queued before page tokens carries a 1-based page number: a v2
                // page for Nhanh streams, the Hub's own for Hub streams.
                Some(r) => (r.from, r.after.clone().or_else(|| r.page.and_then(nhanh::legacy_page_token)), r.pages),
                None if stream == PassStream::NhanhBills => (self.bills_window_start(conn, floor).await?, None, 0),
                None => (self.window_start(conn, stream, floor).await?, None, 0),
            };
            let window = Window { from, after, until, pages };
            let progress = match stream {
                PassStream::NhanhOrders => self.pass_orders(conn, creds, window, &mut budget).await?,
                PassStream::NhanhProducts => self.pass_products(conn, creds, window, &mut budget).await?,
                PassStream::NhanhBills => self.pass_bills(conn, creds, window, &mut budget).await?,
                PassStream::HubCustomers => self.pass_hub_customers(conn, creds, window, &mut budget).await?,
                PassStream::HubOrders => self.pass_hub_orders(conn, creds, window, &mut budget).await?,
            };
            if let Some(stopped) = progress {
                self.continue_pass(
                    account,
                    PassResume {
                        until,
                        stream,
                        from: stopped.from,
                        after: stopped.after,
                        page: None,
                        pages: stopped.pages,
                    },
                )
                .await?;
                return Ok(Outcome::Skipped);
            }
        }
        if resume.is_some() {
            self.end_continuation(account, until, started).await?;
        }
        tracing::info!(account_id = account.as_str(), pages = budget.pages, "scheduled pass done");
        Ok(Outcome::Skipped)
    }

    /// Whether a continuation of this connected period is under way: then it keeps the work, and
    /// a pass is asked for right after it (its window ends before this tick).
    async fn left_to_a_continuation(
        &self,
        account: &AccountId,
        started: OffsetDateTime,
        floor: OffsetDateTime,
    ) -> Result<bool, Failure> {
        let continued = self.cursors.cursor(account, CONTINUED).await.map_err(|e| err(Stream::Reconcile, e))?;
        if !continued.is_some_and(|at| at > started - CONTINUATION_GRACE && at >= floor) {
            return Ok(false);
        }
        self.cursors.set_cursor(account, WANTED, started).await.map_err(|e| err(Stream::Reconcile, e))?;
        tracing::info!(account_id = account.as_str(), "a continued pass is under way; this tick's pass follows it");
        Ok(true)
    }

    /// The end of a continued pass (its window ended at `until`): the pass a tick asked for
    /// meanwhile is queued, and the marks are cleared.
    async fn end_continuation(
        &self,
        account: &AccountId,
        until: OffsetDateTime,
        started: OffsetDateTime,
    ) -> Result<(), Failure> {
        let wanted = self.cursors.cursor(account, WANTED).await.map_err(|e| err(Stream::Reconcile, e))?;
        if wanted.is_some_and(|at| at > until) {
            self.follow_up_pass(account, started).await?;
            self.cursors
                .set_cursor(account, WANTED, OffsetDateTime::UNIX_EPOCH)
                .await
                .map_err(|e| err(Stream::Reconcile, e))?;
        }
        self.cursors
            .set_cursor(account, CONTINUED, OffsetDateTime::UNIX_EPOCH)
            .await
            .map_err(|e| err(Stream::Reconcile, e))?;
        Ok(())
    }

    /// Queues a fresh pass for the ticks that came while a continued pass ran.
    pub(super) async fn follow_up_pass(&self, account: &AccountId, at: OffsetDateTime) -> Result<(), Failure> {
        let item = WorkItem::ReconcileAccount { account_id: account.clone(), tick: at, resume: None };
        let message =
            item.to_message(Origin::FollowUp(at)).map_err(|e| err(Stream::Reconcile, Error::Invalid(e.to_string())))?;
        self.queue.send(std::slice::from_ref(&message)).await.map_err(|e| err(Stream::Reconcile, e))?;
        tracing::info!(account_id = account.as_str(), "a pass follows the continued one for the ticks it held back");
        Ok(())
    }

    /// Queues the rest of a pass as a new work item of the account's pass group.
    pub(super) async fn continue_pass(&self, account: &AccountId, resume: PassResume) -> Result<(), Failure> {
        let (stream, until) = (resume.stream, resume.until);
        let item = WorkItem::ReconcileAccount { account_id: account.clone(), tick: until, resume: Some(resume) };
        let message = item
            .to_message(Origin::Content(None))
            .map_err(|e| err(Stream::Reconcile, Error::Invalid(e.to_string())))?;
        self.cursors.set_cursor(account, CONTINUED, self.clock.now()).await.map_err(|e| err(Stream::Reconcile, e))?;
        self.queue.send(std::slice::from_ref(&message)).await.map_err(|e| err(Stream::Reconcile, e))?;
        tracing::info!(
            account_id = account.as_str(),
            stream = stream.as_str(),
            "scheduled pass continues in a new work item"
        );
        Ok(())
    }

    pub(super) async fn window_start(
        &self,
        conn: &Connection,
        stream: PassStream,
        floor: OffsetDateTime,
    ) -> Result<OffsetDateTime, Failure> {
        let cursor =
            self.cursors.cursor(&conn.account_id, stream.as_str()).await.map_err(|e| err(Stream::Reconcile, e))?;
        Ok(cursor.map_or(floor, |c| (c - OVERLAP).max(floor)))
    }

    pub(super) async fn move_cursor(
        &self,
        conn: &Connection,
        stream: PassStream,
        to: OffsetDateTime,
    ) -> Result<(), Failure> {
        self.cursors.set_cursor(&conn.account_id, stream.as_str(), to).await.map_err(|e| err(Stream::Reconcile, e))
    }

    pub(super) async fn pass_orders(
        &self,
        conn: &Connection,
        creds: &Credentials,
        window: Window,
        budget: &mut Budget,
    ) -> Result<Option<Stopped>, Failure> {
        let Window { mut from, mut after, until, mut pages } = window;
        let order_window = self.nhanh.facts(creds.api_version).order_window;
        while from < until {
            let to = (from + order_window - Duration::seconds(1)).min(until);
            loop {
                if budget.spent(self.clock.now()) {
                    return Ok(Some(Stopped { from, after, pages }));
                }
                if at_page_cap(&conn.account_id, PassStream::NhanhOrders, pages) {
                    return Ok(None);
                }
                pages += 1;
                let q =
                    OrderQuery { after: after.clone(), per_page: 100, filter: OrderFilter::UpdatedBetween(from, to) };
                let read_at = self.clock.now();
                let found = self.nhanh.orders(creds, &q).await.map_err(|e| err(Stream::Orders, e))?;
                for order in found.items {
                    self.count_or_log(conn, self.apply_order(conn, order, read_at).await).await?;
                }
                budget.pages += 1;
                match found.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            self.move_cursor(conn, PassStream::NhanhOrders, to).await?;
            from = to;
            after = None;
            pages = 0;
        }
        Ok(None)
    }

    pub(super) async fn pass_products(
        &self,
        conn: &Connection,
        creds: &Credentials,
        window: Window,
        budget: &mut Budget,
    ) -> Result<Option<Stopped>, Failure> {
        let Window { from, mut after, until, mut pages } = window;
        // Nothing to read yet when the connection is younger than the pass's window end.
        let mut more = from < until;
        while more {
            if budget.spent(self.clock.now()) {
                return Ok(Some(Stopped { from, after, pages }));
            }
            if at_page_cap(&conn.account_id, PassStream::NhanhProducts, pages) {
                return Ok(None);
            }
            pages += 1;
            let q = ProductQuery {
                after: after.clone(),
                per_page: PAGE_SIZE,
                updated_from: Some(from),
                updated_to: Some(until),
            };
            let found = self.nhanh.products(creds, &q).await.map_err(|e| err(Stream::Products, e))?;
            self.apply_products(conn, found.items).await?;
            budget.pages += 1;
            more = found.next.is_some();
            after = found.next;
        }
        self.move_cursor(conn, PassStream::NhanhProducts, until.max(from)).await?;
        Ok(None)
    }

    pub(super) async fn pass_hub_customers(
        &self,
        conn: &Connection,
        creds: &Credentials,
        window: Window,
        budget: &mut Budget,
    ) -> Result<Option<Stopped>, Failure> {
        let Window { from, after, until, .. } = window;
        let mut page = hub_page(after.as_ref());
        let account = &conn.account_id;
        loop {
            if budget.spent(self.clock.now()) {
                return Ok(Some(Stopped { from, after: Some(PageToken(page.to_string())), pages: page - 1 }));
            }
            if at_page_cap(account, PassStream::HubCustomers, page - 1) {
                return Ok(None);
            }
            let found =
                self.hub.hub_customers(account, from, page, 100).await.map_err(|e| err(Stream::Customers, e))?;
            // Pushed already (by the Hub's event or an earlier pass): the overlap re-reads it.
            let ids: Vec<HubId> = found.items.iter().map(|c| c.id.clone()).collect();
            let pushed =
                self.maps.nhanh_keys(account, Entity::Customer, &ids).await.map_err(|e| err(Stream::Customers, e))?;
            let pending: Vec<HubCustomer> = found.items.into_iter().filter(|c| !pushed.contains_key(&c.id)).collect();
            let mut applied = 0;
            for result in self.push_customers(conn, creds, &pending).await {
                if let Some(Outcome::Applied(_)) = self.go_on(conn, result).await? {
                    applied += 1;
                }
            }
            if applied > 0 {
                super::settle::records(account, Stream::Customers, "applied", applied as usize);
                if let Err(e) =
                    self.stats.add(account, Stream::Customers, Counter::Applied, applied, self.clock.now()).await
                {
                    tracing::warn!(account_id = account.as_str(), error = %e, "counter not updated");
                }
            }
            budget.pages += 1;
            if !found.has_more {
                break;
            }
            page += 1;
        }
        self.move_cursor(conn, PassStream::HubCustomers, until).await?;
        Ok(None)
    }

    pub(super) async fn pass_hub_orders(
        &self,
        conn: &Connection,
        creds: &Credentials,
        window: Window,
        budget: &mut Budget,
    ) -> Result<Option<Stopped>, Failure> {
        let Window { from, after, until, .. } = window;
        let mut page = hub_page(after.as_ref());
        loop {
            if budget.spent(self.clock.now()) {
                return Ok(Some(Stopped { from, after: Some(PageToken(page.to_string())), pages: page - 1 }));
            }
            if at_page_cap(&conn.account_id, PassStream::HubOrders, page - 1) {
                return Ok(None);
            }
            let found =
                self.hub.hub_orders(&conn.account_id, from, page, 100).await.map_err(|e| err(Stream::Orders, e))?;
            for o in &found.items {
                self.count_or_log(conn, self.push_order(conn, creds, o).await).await?;
            }
            budget.pages += 1;
            if !found.has_more {
                break;
            }
            page += 1;
        }
        self.move_cursor(conn, PassStream::HubOrders, until).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod pass_tests {
    use super::*;
    use crate::nhanh::{Order, OrderCustomer};
    use crate::queue::memory::MemoryQueue;
    use crate::testing::processor_fixture;
    use std::sync::Arc;

    fn order(id: u64, created: OffsetDateTime) -> Order {
        Order {
            id: crate::domain::NhanhId::new(id).unwrap(),
            shop_order_id: None,
            status: crate::nhanh::OrderStatus::New,
            sale_channel: None,
            customer: OrderCustomer { name: None, mobile: None, email: None, address: None },
            items: vec![],
            money_discount: 0,
            money_used_points: 0,
            customer_ship_fee: 0,
            description: None,
            created_at: Some(created),
            updated_at: None,
        }
    }

    fn tick(account: &AccountId, at: OffsetDateTime) -> WorkItem {
        WorkItem::ReconcileAccount { account_id: account.clone(), tick: at, resume: None }
    }

    #[tokio::test]
    async fn a_pass_longer_than_its_budget_continues_in_new_work_items_and_ticks_meanwhile_wait() {
        let mut f = processor_fixture().await;
        let queue = Arc::new(MemoryQueue::default());
        f.processor.queue = queue.clone();
        // One page per invocation, an hour after connecting.
        f.processor.pass_budget = Duration::ZERO;
        let later = f.now + Duration::hours(1);
        f.processor.clock = Arc::new(crate::clock::FixedClock(later));
        for id in 1000..1250 {
            f.nhanh.orders.lock().unwrap().insert(id, order(id, f.now + Duration::minutes(1)));
        }
        f.processor.apply(&tick(&f.account, f.now)).await.unwrap();
        let mut invocations = 1;
        loop {
            let messages = queue.messages();
            let Some(last) = messages.get(invocations - 1) else { break };
            let item: WorkItem = serde_json::from_str(&last.body).unwrap();
            assert_eq!(last.group_id, "acct:reconcile");
            if invocations == 2 {
                // A tick while the continued pass runs leaves it the work.
                let calls = f.nhanh.calls.load(std::sync::atomic::Ordering::SeqCst);
                assert_eq!(f.processor.apply(&tick(&f.account, f.now)).await.unwrap(), Outcome::Skipped);
                assert_eq!(f.nhanh.calls.load(std::sync::atomic::Ordering::SeqCst), calls, "no second pass");
            }
            if matches!(item, WorkItem::ReconcileAccount { resume: None, .. }) {
                // The follow-up pass runs a minute later (its window ends later than the chain's).
                f.processor.clock = Arc::new(crate::clock::FixedClock(later + Duration::minutes(1)));
            }
            f.processor.apply(&item).await.unwrap();
            invocations += 1;
            assert!(invocations < 20, "the pass never ends");
        }
        // 3 order pages, then one page of products, bills, Hub customers and Hub orders: 7
        // invocations; then the same again for the tick held back meanwhile (the fake ignores windows).
        let follow_up = queue.messages().iter().filter(|m| m.dedup_id.contains(":follow-up:")).count();
        assert_eq!(follow_up, 1, "the held-back tick got one pass after the chain");
        assert_eq!(invocations, 14);
        assert_eq!(f.hub.all("orders").len(), 250, "every order applied once");
        let cursor = crate::store::CursorStore::cursor(f.store.as_ref(), &f.account, "nhanh_orders").await.unwrap();
        assert_eq!(
            cursor,
            Some(later + Duration::minutes(1) - Duration::seconds(2)),
            "the window end of the follow-up pass"
        );
        // The chain is over: the next tick runs a pass of its own.
        let calls = f.nhanh.calls.load(std::sync::atomic::Ordering::SeqCst);
        f.processor.apply(&tick(&f.account, f.now)).await.unwrap();
        assert!(f.nhanh.calls.load(std::sync::atomic::Ordering::SeqCst) > calls);
    }

    #[tokio::test]
    async fn the_continuation_of_a_pass_started_as_the_account_connected_still_runs() {
        // The first pass is queued by the connect callback: its window ends before connected_at.
        let mut f = processor_fixture().await;
        let queue = Arc::new(MemoryQueue::default());
        f.processor.queue = queue.clone();
        f.processor.pass_budget = Duration::ZERO;
        f.processor.apply(&tick(&f.account, f.now)).await.unwrap();
        let continuation: WorkItem = serde_json::from_str(&queue.messages()[0].body).unwrap();
        assert!(matches!(
            continuation,
            WorkItem::ReconcileAccount { resume: Some(PassResume { stream: PassStream::HubOrders, .. }), .. }
        ));
        f.processor.apply(&continuation).await.unwrap();
        assert_eq!(queue.messages().len(), 1, "done: nothing more queued");
        let marker = crate::store::CursorStore::cursor(f.store.as_ref(), &f.account, CONTINUED).await.unwrap();
        assert_eq!(marker, Some(OffsetDateTime::UNIX_EPOCH), "the chain ended, so ticks run passes again");
    }

    /// Issue 21: a Hub that always answers `has_more` no longer loops forever: each listing stops
    /// at its page cap, logged, and its cursor stays where it was.
    #[tokio::test]
    async fn a_hub_that_always_has_more_is_read_to_the_page_cap_and_the_pass_ends() {
        let f = processor_fixture().await;
        f.hub.endless_listings.store(true, std::sync::atomic::Ordering::SeqCst);
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        assert!(f.processor.run_pass(&conn, &creds, None).await.is_ok(), "the pass ends");
        let pages = f.hub.listing_pages.load(std::sync::atomic::Ordering::SeqCst);
        let cap = super::super::listing::MAX_PAGES_PER_WINDOW as usize;
        assert_eq!(pages, 2 * cap, "customers and orders, each to the cap");
        for stream in [PassStream::HubCustomers, PassStream::HubOrders] {
            let cursor = crate::store::CursorStore::cursor(f.store.as_ref(), &f.account, stream.as_str()).await;
            assert_eq!(cursor.unwrap(), None, "{} cursor not moved", stream.as_str());
        }
    }
}
