//! The initial sync (R10) as processor steps, and the product-page path it shares with the pass.
//!
//! The first pass of a connection applies the category tree at once, then queues the first
//! `InitialSyncPage` item; pages of [`SYNC_PAGE_SIZE`] products are applied through the same code as the pass's
//! product pages, one after another within an invocation's budget, and the rest continues in a new
//! item carrying Nhanh's page token. Progress (pages done,
//! and the total when the version tells it) is on the status, and the connection goes `syncing`
//! → `active` after the last page.

use super::outcome::{err, Failure, Outcome};
use super::product::PageRecords;
use super::Processor;
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{Connection, ConnectionState, InitialSync, InitialSyncState, Origin, WorkItem};
use crate::nhanh::{Credentials, PageToken, ProductQuery};
use crate::store::StoreError;
use crate::Error;

/// Products per page of the scheduled pass's product stream.
pub const PAGE_SIZE: u32 = 50;
/// Products asked per initial sync page: Nhanh's most (v3: 100; the v2 adapter asks its own most,
/// 50). Issue 23: every page costs a few store calls before and after its Hub writes, when the
/// Hub's 50 writes/s are the bound; pages of 100 halve that cost per product.
pub const SYNC_PAGE_SIZE: u32 = 100;
/// The longest Hub `Retry-After` a page waits out in place.
const HUB_WAIT_IN_PLACE: time::Duration = time::Duration::seconds(5);
/// How many times one page waits for the Hub before it fails.
const HUB_WAITS_PER_PAGE: u32 = 10;

/// A page whose Hub writes are done and whose records are not yet written.
struct WrittenPage {
    /// What its writes left to record.
    records: PageRecords,
    /// The token it was read with, and its number.
    after: Option<PageToken>,
    seq: u32,
    /// Its products, and the pages in all where the version tells them.
    count: u64,
    total_pages: Option<u32>,
    /// Where the next page starts (`None`: this is the last, or the page cap was reached).
    next: Option<PageToken>,
    /// Whether Nhanh named a next page (past the cap too).
    more: bool,
}

/// Where the page after page `seq` starts: Nhanh's token, unless the page cap is reached.
fn next_page(found: &crate::nhanh::Page<crate::nhanh::Product>, seq: u32) -> Option<PageToken> {
    found.next.clone().filter(|_| seq < super::listing::MAX_PAGES_PER_WINDOW)
}

impl Processor {
    /// Applies the tree, queues the first product page, and marks the sync running. Pages follow
    /// one another: each page item reads its page and queues the next with Nhanh's page token
    /// (cursors cannot be known ahead, so pages are not planned up front).
    pub(super) async fn start_initial_sync(&self, conn: &Connection, creds: &Credentials) -> Result<(), Failure> {
        let account = &conn.account_id;
        let tree = self.nhanh.categories(creds).await.map_err(|e| err(Stream::ProductGroups, e))?;
        self.sync_groups(conn, &tree).await?;
        self.stats.reset(account, Stream::InitialSync).await.map_err(|e| err(Stream::Products, e))?;
        self.queue_sync_page(conn, None, 1).await?;
        self.update_initial_sync(account, |c| {
            if c.initial_sync.as_ref().is_some_and(|s| s.state == InitialSyncState::Due) {
                c.initial_sync = Some(InitialSync { state: InitialSyncState::Running, done: 0, total: None });
            }
        })
        .await?;
        tracing::info!(account_id = account.as_str(), "initial sync started");
        Ok(())
    }

    /// Queues page `seq` of the initial sync. The deduplication id names the connected period and
    /// the page, so a retried page does not start a second chain (within SQS's 5-minute window;
    /// a page applied twice sends nothing unchanged to the Hub).
    pub(super) async fn queue_sync_page(
        &self,
        conn: &Connection,
        after: Option<PageToken>,
        seq: u32,
    ) -> Result<(), Failure> {
        let account = &conn.account_id;
        let item = WorkItem::InitialSyncPage {
            account_id: account.clone(),
            after,
            seq,
            page: None,
            period: conn.connected_at,
        };
        let message = item
            .to_message(Origin::Content(conn.connected_at))
            .map_err(|e| err(Stream::Products, Error::Invalid(e.to_string())))?;
        self.queue.send(std::slice::from_ref(&message)).await.map_err(|e| err(Stream::Products, e))
    }

    /// Pages of the initial sync from `after` on, in the same invocation while its budget
    /// ([`Processor::pass_budget`]) lasts, so the pace is the binding limit's and not the
    /// queue's; the rest goes on in a new work item. The sync ends after the last page.
    ///
    /// Issue 23: three things run at once: the Hub writes of page `seq`, the records of page
    /// `seq - 1` (links, snapshots, progress), and the Nhanh read of page `seq + 1`, so neither
    /// Nhanh nor the table stops the Hub writes between two pages. A failure hands the rest,
    /// from the first page not recorded, to a new item (nothing recorded is read again); on the
    /// item's own first page it is the item's failure.
    pub(super) async fn initial_sync_page(
        &self,
        conn: &Connection,
        creds: &Credentials,
        mut after: Option<PageToken>,
        mut seq: u32,
    ) -> Result<Outcome, Failure> {
        let deadline = self.work_until(self.clock.now());
        let first = seq;
        let mut read = self.read_sync_page(creds, after.clone()).await;
        // The page written whose records are being written beside the next page's writes.
        let mut pending: Option<WrittenPage> = None;
        loop {
            let found = match read {
                Ok(found) => found,
                Err(e) => {
                    if let Some(earlier) = pending.take() {
                        let (at, at_seq) = (earlier.after.clone(), earlier.seq);
                        if let Err(e) = self.finish_sync_page(conn, earlier).await {
                            return self.stop_sync(conn, at, at_seq, first, e).await;
                        }
                    }
                    return self.stop_sync(conn, after, seq, first, e).await;
                }
            };
            let next = next_page(&found, seq);
            // The next page is read while this one is written, unless the budget is spent.
            let ahead = next.clone().filter(|_| self.clock.now() < deadline);
            let carried = pending.as_ref().map(|p| p.records.links.clone()).unwrap_or_default();
            let (count, total_pages, more) = (found.items.len() as u64, found.total_pages, found.next.is_some());
            let earlier = pending.take();
            let earlier_at = earlier.as_ref().map(|p| (p.after.clone(), p.seq));
            let finish = async {
                match earlier {
                    Some(page) => self.finish_sync_page(conn, page).await.map(|_| ()),
                    None => Ok(()),
                }
            };
            let prefetch = async {
                match ahead {
                    Some(token) => Some(self.read_sync_page(creds, Some(token)).await),
                    None => None,
                }
            };
            // The writes are polled first: their reads of the maps may run before the earlier
            // page's links are stored, which `carried` stands in for.
            let (written, finished, prefetched) =
                futures::future::join3(self.write_sync_page(conn, found.items, &carried), finish, prefetch).await;
            if let (Err(e), Some((at, at_seq))) = (finished, earlier_at) {
                return self.stop_sync(conn, at, at_seq, first, e).await;
            }
            let records = match written {
                Ok(records) => records,
                Err((records, e)) => {
                    // What was written before the failure is still recorded (best effort).
                    if let Err(not_recorded) = self.record_products_page(conn, records).await {
                        tracing::warn!(account_id = conn.account_id.as_str(), error = ?not_recorded, "page not recorded");
                    }
                    return self.stop_sync(conn, after, seq, first, e).await;
                }
            };
            let page = WrittenPage { records, after: after.clone(), seq, count, total_pages, next: next.clone(), more };
            let Some(prefetched) = prefetched else {
                return self.last_sync_page(conn, page, first).await;
            };
            pending = Some(page);
            after = next;
            seq += 1;
            read = prefetched;
        }
    }

    /// Records the invocation's last page and hands the next one, if any, to a new work item.
    async fn last_sync_page(&self, conn: &Connection, page: WrittenPage, first: u32) -> Result<Outcome, Failure> {
        let (after, seq) = (page.after.clone(), page.seq);
        let next = match self.finish_sync_page(conn, page).await {
            Ok(next) => next,
            Err(e) => return self.stop_sync(conn, after, seq, first, e).await,
        };
        if let Some(next) = next {
            self.queue_sync_page(conn, Some(next), seq + 1).await?;
            tracing::info!(
                account_id = conn.account_id.as_str(),
                next_page = seq + 1,
                "initial sync continues in a new work item"
            );
        }
        Ok(Outcome::Skipped)
    }

    /// Ends an invocation's pages on `failure` at page `seq` (read from `after`): a retryable
    /// failure past the item's own first page hands the rest to a new item; otherwise it is the
    /// item's failure.
    async fn stop_sync(
        &self,
        conn: &Connection,
        after: Option<PageToken>,
        seq: u32,
        first: u32,
        failure: Failure,
    ) -> Result<Outcome, Failure> {
        match failure {
            Failure::Retry { .. } if seq > first => {
                self.queue_sync_page(conn, after, seq).await?;
                Ok(Outcome::Skipped)
            }
            failure => Err(failure),
        }
    }

    /// Reads, applies and counts page `seq`; returns where the next page starts (`None`: the sync
    /// is done, and marked so). The tests' way to apply one page.
    #[cfg(test)]
    pub(super) async fn sync_one_page(
        &self,
        conn: &Connection,
        creds: &Credentials,
        after: Option<PageToken>,
        seq: u32,
    ) -> Result<Option<PageToken>, Failure> {
        let found = self.read_sync_page(creds, after.clone()).await?;
        let next = next_page(&found, seq);
        let (count, total_pages, more) = (found.items.len() as u64, found.total_pages, found.next.is_some());
        let records = self.write_sync_page(conn, found.items, &[]).await.map_err(|(_, e)| e)?;
        self.finish_sync_page(conn, WrittenPage { records, after, seq, count, total_pages, next, more }).await
    }

    /// Reads one page of products for the initial sync.
    async fn read_sync_page(
        &self,
        creds: &Credentials,
        after: Option<PageToken>,
    ) -> Result<crate::nhanh::Page<crate::nhanh::Product>, Failure> {
        self.nhanh
            .products(creds, &ProductQuery { after, per_page: SYNC_PAGE_SIZE, ..Default::default() })
            .await
            .map_err(|e| err(Stream::Products, e))
    }

    /// Records page `page.seq` and counts it; returns where the next page starts (`None`: the
    /// sync is done, and marked so).
    async fn finish_sync_page(&self, conn: &Connection, page: WrittenPage) -> Result<Option<PageToken>, Failure> {
        let account = &conn.account_id;
        let WrittenPage { records, seq, count, total_pages, next, more, .. } = page;
        self.record_products_page(conn, records).await?;
        // Progress counts products: the page's, once per page (a retried page counts once).
        let done = self
            .stats
            .advance(account, Stream::InitialSync, seq, count, self.clock.now())
            .await
            .map_err(|e| err(Stream::Products, e))?;
        // Decision: v2 tells the pages in all, so the total is at most that many pages as full as
        // this one (an estimate until the last page, then the exact count; the adapter may ask
        // fewer than SYNC_PAGE_SIZE); v3 tells no total (§9): none until done.
        let total = total_pages.map(|pages| u64::from(pages) * count);
        tracing::info!(account_id = account.as_str(), done, total, "initial sync progress");
        if more && next.is_none() {
            // Page tokens that never end: the sync ends here (logged); the scheduled pass's
            // product stream picks up every product changed from now on.
            tracing::error!(account_id = account.as_str(), pages = seq, "initial sync cut at its page cap");
        }
        if next.is_none() {
            self.update_initial_sync(account, |c| {
                c.initial_sync = Some(InitialSync { state: InitialSyncState::Done, done, total: Some(done) });
                if c.state == ConnectionState::Syncing {
                    c.state = ConnectionState::Active;
                }
            })
            .await?;
            tracing::info!(account_id = account.as_str(), products = done, "initial sync finished");
        } else if seq == 1 && total.is_some() {
            self.update_initial_sync(account, |c| {
                if let Some(s) = c.initial_sync.as_mut().filter(|s| s.state == InitialSyncState::Running) {
                    s.total = total;
                }
            })
            .await?;
        }
        Ok(next)
    }

    /// Writes a page read from Nhanh to the Hub; when the Hub asks to slow down (429 with
    /// `Retry-After`) for a short while, records what was written, waits and writes the same
    /// products again (the writes already done are not repeated: unchanged products are not
    /// sent), rather than handing the page back to be read from Nhanh a second time (issue 21:
    /// pages read twice met Nhanh's lock). A longer wait, or one past this invocation's work
    /// time, fails as before, with what was written to record.
    async fn write_sync_page(
        &self,
        conn: &Connection,
        products: Vec<crate::nhanh::Product>,
        carried: &[(String, crate::domain::HubId)],
    ) -> Result<PageRecords, (PageRecords, Failure)> {
        let until = self.work_until(self.clock.now());
        let mut waits = 0;
        loop {
            let (records, outcome) = self
                .write_products_page(conn, products.clone(), carried)
                .await
                .map_err(|e| (PageRecords::default(), e))?;
            match outcome {
                Ok(()) => return Ok(records),
                Err(Failure::Retry { not_before: Some(at), reauth: false, .. })
                    if waits < HUB_WAITS_PER_PAGE && at <= until && at - self.clock.now() <= HUB_WAIT_IN_PLACE =>
                {
                    waits += 1;
                    self.record_products_page(conn, records).await.map_err(|e| (PageRecords::default(), e))?;
                    let pause = (at - self.clock.now()).max(time::Duration::ZERO) + time::Duration::milliseconds(20);
                    tracing::info!(
                        account_id = conn.account_id.as_str(),
                        wait_ms = pause.whole_milliseconds() as i64,
                        "the Hub asked to slow down: the page waits, it is not read again"
                    );
                    tokio::time::sleep(std::time::Duration::try_from(pause).unwrap_or_default()).await;
                }
                Err(failure) => return Err((records, failure)),
            }
        }
    }

    pub(super) async fn update_initial_sync(
        &self,
        account: &crate::domain::AccountId,
        change: impl Fn(&mut Connection),
    ) -> Result<(), Failure> {
        let changed = crate::retry::on_conflict(|| async {
            let Some(mut c) = self.connections.get(account).await? else { return Ok(()) };
            change(&mut c);
            self.connections.put(&c).await.map(|_| ())
        })
        .await;
        match changed {
            Err(StoreError::Conflict) => {}
            other => return other.map_err(|e| err(Stream::Products, e)),
        }
        Err(Failure::Retry {
            reason: "connection kept changing".into(),
            kind: FailureKind::Other,
            not_before: None,
            reauth: false,
            hub_down: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NhanhId;
    use crate::nhanh::Product;
    use crate::testing::processor_fixture;
    use std::sync::atomic::Ordering;

    fn product(id: u64, parent: Option<u64>, name: &str) -> Product {
        Product {
            id: NhanhId::new(id).unwrap(),
            parent_id: parent.and_then(NhanhId::new),
            category_id: None,
            code: Some(format!("SP{id}")),
            barcode: None,
            name: name.into(),
            price: Some(1000),
            status: Some(crate::nhanh::ProductStatus::Active),
            image: None,
            created_at: None,
        }
    }

    #[tokio::test]
    async fn a_product_page_links_children_to_parents_survives_a_lost_answer_and_resends_nothing_unchanged() {
        let f = processor_fixture().await;
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        // The child comes first on the page; its parent must be created first.
        for p in [product(5, Some(6), "Áo đỏ"), product(6, None, "Áo"), product(7, None, "Mũ")] {
            f.nhanh.products.lock().unwrap().insert(p.id.get(), p);
        }
        f.hub.lose_answers.store(1, Ordering::SeqCst);
        assert!(matches!(f.processor.initial_sync_page(&conn, &creds, None, 1).await, Err(Failure::Retry { .. })));
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        let products = f.hub.all("products");
        assert_eq!(products.len(), 3, "the lost answer's retry found the same record: {products:?}");
        let parent = products.iter().find(|p| p["name"] == "Áo").unwrap();
        let child = products.iter().find(|p| p["name"] == "Áo đỏ").unwrap();
        assert_eq!(child["parent_id"], parent["id"]);

        let calls = f.hub.calls.load(Ordering::SeqCst);
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        assert_eq!(f.hub.calls.load(Ordering::SeqCst), calls, "an unchanged page sends nothing");
        f.nhanh.products.lock().unwrap().insert(7, product(7, None, "Mũ len"));
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        assert_eq!(f.hub.calls.load(Ordering::SeqCst), calls + 1, "one changed product, one update");
        assert_eq!(f.hub.all("products").iter().filter(|p| p["name"] == "Mũ len").count(), 1);
        let stats = crate::store::StatsStore::stats(f.store.as_ref(), &f.account).await.unwrap();
        assert_eq!(stats.streams["products"].applied, 4, "3 created + 1 updated, counted per page");
    }

    #[tokio::test]
    async fn a_page_writes_several_products_at_once_and_a_429_starts_no_further_write() {
        let f = processor_fixture().await;
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        for id in 1..=20 {
            f.nhanh.products.lock().unwrap().insert(id, product(id, None, &format!("P{id}")));
        }
        f.hub.rate_limited_after.store(6, Ordering::SeqCst);
        // One application of the page (the sync itself waits a 429 out and applies again).
        let page: Vec<_> = f.nhanh.products.lock().unwrap().values().cloned().collect();
        let first = f.processor.apply_products(&conn, page).await;
        assert!(matches!(first, Err(Failure::Retry { .. })), "{first:?}");
        let (created, calls) = (f.hub.all("products").len(), f.hub.calls.load(Ordering::SeqCst));
        assert_eq!(created, 6, "the writes before the 429");
        let in_flight = super::super::product::HUB_WRITES_IN_FLIGHT;
        assert!(calls <= 6 + in_flight, "no write starts after the 429, only those under way: {calls} calls");
        assert_eq!(f.hub.most_in_flight.load(Ordering::SeqCst), in_flight);

        f.hub.rate_limited_after.store(0, Ordering::SeqCst);
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        let products = f.hub.all("products");
        assert_eq!(products.len(), 20, "the rest, and no product twice: {products:?}");
        let stats = crate::store::StatsStore::stats(f.store.as_ref(), &f.account).await.unwrap();
        assert_eq!(stats.streams["products"].applied, 20, "each counted once");
        assert_eq!(stats.streams["initial_sync"].applied, 20);

        // The page delivered again (SQS delivers at least once): the progress counts it once.
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        let stats = crate::store::StatsStore::stats(f.store.as_ref(), &f.account).await.unwrap();
        assert_eq!(stats.streams["initial_sync"].applied, 20, "a page counted once");
    }

    /// A child whose parent was on the page before is linked to it, though that page's links
    /// are stored beside this page's writes (the writes read the maps first here).
    #[tokio::test]
    async fn a_child_finds_its_parent_of_the_page_before_while_that_page_is_recorded() {
        let mut f = processor_fixture().await;
        f.processor.queue = std::sync::Arc::new(crate::queue::memory::MemoryQueue::default());
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        for id in 1..=100 {
            f.nhanh.products.lock().unwrap().insert(id, product(id, None, &format!("P{id}")));
        }
        f.nhanh.products.lock().unwrap().insert(150, product(150, Some(7), "Áo đỏ"));
        f.processor.pass_budget = time::Duration::seconds(60);
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        let products = f.hub.all("products");
        assert_eq!(products.len(), 101);
        let parent = products.iter().find(|p| p["code"] == "SP7").unwrap();
        let child = products.iter().find(|p| p["code"] == "SP150").unwrap();
        assert_eq!(child["parent_id"], parent["id"], "{child}");
    }

    #[tokio::test]
    async fn pages_follow_one_another_within_the_budget_and_continue_in_a_new_item_after_it() {
        let mut f = processor_fixture().await;
        let queue = std::sync::Arc::new(crate::queue::memory::MemoryQueue::default());
        f.processor.queue = queue.clone();
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        for id in 1..=250 {
            f.nhanh.products.lock().unwrap().insert(id, product(id, None, &format!("P{id}")));
        }
        // No budget: one page (of Nhanh's most, 100), then the next page is a new work item
        // carrying the token.
        f.processor.pass_budget = time::Duration::ZERO;
        f.processor.initial_sync_page(&conn, &creds, None, 1).await.unwrap();
        assert_eq!(f.hub.all("products").len(), 100);
        let item: WorkItem = serde_json::from_str(&queue.messages()[0].body).unwrap();
        let WorkItem::InitialSyncPage { after, seq, .. } = item else { panic!("{item:?}") };
        assert_eq!((after.as_ref().map(PageToken::as_str), seq), (Some("100"), 2));
        // A budget: the rest in one invocation, and the sync is done.
        f.processor.pass_budget = time::Duration::seconds(60);
        f.processor.initial_sync_page(&conn, &creds, after, seq).await.unwrap();
        assert_eq!(f.hub.all("products").len(), 250);
        assert_eq!(queue.messages().len(), 1, "no further item");
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        assert_eq!(conn.initial_sync.map(|s| (s.state, s.done)), Some((InitialSyncState::Done, 250)), "products");
    }

    /// Issue 21: a page of a chain queued in an earlier connected period (before a disconnect and
    /// a reconnect) is dropped: it applies nothing and cannot end the new period's sync.
    #[tokio::test]
    async fn a_page_of_an_earlier_connected_period_is_dropped() {
        let f = processor_fixture().await;
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        f.nhanh.products.lock().unwrap().insert(5, product(5, None, "Áo"));
        let page = |period| WorkItem::InitialSyncPage {
            account_id: f.account.clone(),
            after: None,
            seq: 1,
            page: None,
            period,
        };
        let earlier = conn.connected_at.map(|c| c - time::Duration::days(1));
        assert_eq!(f.processor.apply(&page(earlier)).await.unwrap(), Outcome::Dropped(Stream::Products));
        assert!(f.hub.all("products").is_empty(), "nothing applied");
        let after = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        assert_eq!(after.initial_sync, conn.initial_sync, "the sync's state is untouched");
        assert_eq!(f.processor.apply(&page(conn.connected_at)).await.unwrap(), Outcome::Skipped);
        assert_eq!(f.hub.all("products").len(), 1, "the current period's page applies");
    }

    /// Issue 21: a Hub 429 in the middle of a page is waited out and the page applied again from
    /// memory; Nhanh is not asked for the same page a second time.
    #[tokio::test]
    async fn a_hub_rate_limit_mid_page_is_waited_out_without_reading_the_page_again() {
        let f = processor_fixture().await;
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        for id in 1..=50 {
            f.nhanh.products.lock().unwrap().insert(id, product(id, None, &format!("P{id}")));
        }
        f.hub.rate_limited_after.store(10, Ordering::SeqCst);
        f.hub.rate_limited_answers.store(3, Ordering::SeqCst);
        let next = f.processor.sync_one_page(&conn, &creds, None, 1).await.unwrap();
        assert_eq!(next, None, "the one page, done");
        assert_eq!(f.hub.all("products").len(), 50);
        assert_eq!(f.nhanh.calls.load(Ordering::SeqCst), 1, "the page was read once");
    }
}
