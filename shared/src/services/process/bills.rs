//! In-store sales (R14): the scheduled pass reads Nhanh's retail bills by day and upserts each as
//! a Hub order coded `HD{id}`.
//!
//! Nhanh sends no webhook for bills and bills carry no update stamp, so every pass re-reads from
//! the day before its cursor (a one-day overlap) to the day of its window end, in spans no longer
//! than the adapter's bill window, never before the day of `connected_at`. A bill created before
//! `connected_at` is dropped (R3); a bill that names an order is that order's stock movement and
//! is skipped (counted as ignored); a bill whose Hub order already has the same snapshot is not
//! sent again, so a repeated or unchanged bill never makes a second Hub order nor a write. Deleted
//! bills get their last snapshot with `deleted: true`: from v3's `bill/deleted`, and, in both
//! versions, a bill the connector holds that a day's complete re-read no longer lists (v2 has no
//! list of deleted bills; the ids seen per day are kept for this, for the days a pass re-reads).

use super::listing::{at_page_cap, Budget, Stopped, Window};
use super::outcome::{err, Failure, Outcome};
use super::Processor;
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{Connection, Counter, HubId, NhanhId, PassStream};
use crate::nhanh::{Bill, BillQuery, Credentials, DeletedBillsQuery};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use time::{Duration, OffsetDateTime};

/// Intent scope of the bill ids seen per day (key: the date).
const BILLS_OF_DAY: &str = "bills_of_day";

/// Bills per page read.
const BILLS_PER_PAGE: u32 = 100;
/// How far before its cursor the bill stream re-reads (R14: a one-day overlap).
pub const BILL_OVERLAP: Duration = Duration::days(1);

/// The Vietnam date of an instant; `None` at the calendar's edge (a stamp from outside near the
/// year 9999 would make `to_offset` panic).
fn day(t: OffsetDateTime) -> Option<time::Date> {
    t.checked_to_offset(crate::clock::VIETNAM).map(|t| t.date())
}

/// What a pass recorded of one day's complete listing: the bills it named and the depots the
/// connection read then. Recorded before depots were kept: a bare list of ids.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct DayListing {
    /// The connection's depots when the day was listed (`[]`: all depots).
    depots: Vec<u64>,
    /// The bills listed.
    ids: BTreeSet<String>,
    /// Whether `depots` is known (false for a listing recorded in the older form).
    #[serde(skip)]
    depots_known: bool,
}

impl DayListing {
    fn parse(text: &str) -> Self {
        if let Ok(mut listing) = serde_json::from_str::<DayListing>(text) {
            listing.depots_known = true;
            return listing;
        }
        let ids = serde_json::from_str(text).unwrap_or_default();
        Self { depots: Vec::new(), ids, depots_known: false }
    }
}

impl Processor {
    /// Where the bill stream starts: a day before its cursor, never before `connected_at`.
    pub(super) async fn bills_window_start(
        &self,
        conn: &Connection,
        floor: OffsetDateTime,
    ) -> Result<OffsetDateTime, Failure> {
        let cursor = self
            .cursors
            .cursor(&conn.account_id, PassStream::NhanhBills.as_str())
            .await
            .map_err(|e| err(Stream::Bills, e))?;
        Ok(cursor.map_or(floor, |c| (c - BILL_OVERLAP).max(floor)))
    }

    /// The bill stream of a pass: spans of days, page after page, then the deletions of the span.
    pub(super) async fn pass_bills(
        &self,
        conn: &Connection,
        creds: &Credentials,
        window: Window,
        budget: &mut Budget,
    ) -> Result<Option<Stopped>, Failure> {
        let Window { mut from, mut after, until, mut pages } = window;
        let span = self.nhanh.facts(creds.api_version).bill_window;
        let mut customers = HashMap::new();
        while from < until {
            // Whole days: the span ends on the last day it may cover.
            let to = (from + span - Duration::days(1)).min(until);
            // Ids listed per day, when this invocation reads the span from its first page: every
            // bill the listing names, whatever applying it did (a permanent failure is still a
            // bill Nhanh has). A listing cut short knows nothing of what it did not reach.
            let mut seen: Option<BTreeMap<time::Date, BTreeSet<String>>> = after.is_none().then(BTreeMap::new);
            loop {
                if budget.spent(self.clock.now()) {
                    return Ok(Some(Stopped { from, after, pages }));
                }
                if at_page_cap(&conn.account_id, PassStream::NhanhBills, pages) {
                    return Ok(None);
                }
                pages += 1;
                let (Some(first_day), Some(last_day)) = (day(from), day(to)) else {
                    return Err(Failure::permanent(
                        FailureKind::Other,
                        Stream::Bills,
                        "pass",
                        "bill window outside the calendar",
                    ));
                };
                let q = BillQuery { after: after.clone(), per_page: BILLS_PER_PAGE, from: first_day, to: last_day };
                let read_at = self.clock.now();
                let found = self.nhanh.retail_bills(creds, &q).await.map_err(|e| err(Stream::Bills, e))?;
                if found.truncated {
                    seen = None;
                }
                self.apply_bill_page(conn, &found.items, seen.as_mut(), &mut customers, read_at).await?;
                budget.pages += 1;
                match found.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            self.pass_deleted_bills(conn, creds, from, to).await?;
            if let (Some(seen), Some(first_day), Some(last_day)) = (seen, day(from), day(to)) {
                self.bills_gone_from_days(conn, first_day, last_day, seen).await?;
            }
            self.move_cursor(conn, PassStream::NhanhBills, to).await?;
            if to >= until {
                break;
            }
            from = to;
            after = None;
            pages = 0;
        }
        Ok(None)
    }

    /// Applies one listed page of bills, noting each listed bill's id under its day in `seen`
    /// (when the span is read whole), and counts what it applied once for the page (one counter
    /// write, not one per bill). A retryable failure stops the page; a permanent one is logged.
    async fn apply_bill_page(
        &self,
        conn: &Connection,
        bills: &[Bill],
        mut seen: Option<&mut BTreeMap<time::Date, BTreeSet<String>>>,
        customers: &mut HashMap<String, HubId>,
        read_at: OffsetDateTime,
    ) -> Result<(), Failure> {
        let mut counts = [(Counter::Applied, 0u64), (Counter::Dropped, 0u64)];
        let mut outcome = Ok(());
        for bill in bills {
            if let (Some(seen), Some(created), None) = (seen.as_deref_mut(), bill.created_at, bill.order_id) {
                if let Some(listed_on) = day(created) {
                    seen.entry(listed_on).or_default().insert(bill.id.to_string());
                }
            }
            match self.go_on(conn, self.apply_bill_with(conn, bill, customers, read_at).await).await {
                Ok(Some(Outcome::Applied(_))) => counts[0].1 += 1,
                Ok(Some(Outcome::Dropped(_))) => counts[1].1 += 1,
                Ok(_) => {}
                Err(retry) => {
                    outcome = Err(retry);
                    break;
                }
            }
        }
        for (counter, n) in counts.into_iter().filter(|(_, n)| *n > 0) {
            let name = if counter == Counter::Applied { "applied" } else { "dropped" };
            super::settle::records(&conn.account_id, Stream::Bills, name, n as usize);
            if let Err(e) = self.stats.add(&conn.account_id, Stream::Bills, counter, n, self.clock.now()).await {
                tracing::warn!(account_id = conn.account_id.as_str(), error = %e, "counter not updated");
            }
        }
        outcome
    }

    /// Marks deleted the bills held for a day of `first..=last` that its complete re-read no
    /// longer lists, then keeps what it lists. Only when the earlier listing covered the same
    /// depots: a depot dropped at a re-consent hides its bills from the listing, it does not
    /// delete them.
    pub(super) async fn bills_gone_from_days(
        &self,
        conn: &Connection,
        first: time::Date,
        last: time::Date,
        mut seen: BTreeMap<time::Date, BTreeSet<String>>,
    ) -> Result<(), Failure> {
        let account = &conn.account_id;
        let mut depots = conn.depot_ids.clone();
        depots.sort_unstable();
        let mut d = first;
        while d <= last {
            let key = d.to_string();
            let now_seen = seen.remove(&d).unwrap_or_default();
            let stored = self.intents.intent(account, BILLS_OF_DAY, &key).await.map_err(|e| err(Stream::Bills, e))?;
            let before = stored.as_deref().map(DayListing::parse).unwrap_or_default();
            let comparable = stored.is_none() || (before.depots_known && before.depots == depots);
            if !comparable {
                tracing::info!(
                    account_id = account.as_str(),
                    day = key.as_str(),
                    "the connection's depots changed since this day was listed: no bill is taken as deleted"
                );
            }
            let gone_ids: Vec<NhanhId> = match comparable {
                true => before
                    .ids
                    .difference(&now_seen)
                    .filter_map(|id| id.parse::<u64>().ok())
                    .filter_map(NhanhId::new)
                    .collect(),
                false => Vec::new(),
            };
            for gone in gone_ids {
                self.count_or_log(conn, self.delete_bill(conn, gone).await).await?;
            }
            let now = DayListing { depots: depots.clone(), ids: now_seen, depots_known: true };
            let unchanged = comparable && before.depots_known && before.ids == now.ids;
            if !unchanged {
                let text = serde_json::to_string(&now).unwrap_or_default();
                self.intents.set_intent(account, BILLS_OF_DAY, &key, &text).await.map_err(|e| err(Stream::Bills, e))?;
            }
            match d.next_day() {
                Some(next) => d = next,
                None => break,
            }
        }
        Ok(())
    }

    pub(super) async fn pass_deleted_bills(
        &self,
        conn: &Connection,
        creds: &Credentials,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<(), Failure> {
        let mut after = None;
        for _ in 0..100 {
            let found = self
                .nhanh
                .deleted_bills(creds, &DeletedBillsQuery { after, from, to })
                .await
                .map_err(|e| err(Stream::Bills, e))?;
            for id in found.items {
                self.count_or_log(conn, self.delete_bill(conn, id).await).await?;
            }
            match found.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nhanh::{BillKind, OrderCustomer, OrderLine};
    use crate::store::StatsStore;
    use crate::testing::processor_fixture;
    use std::sync::atomic::Ordering;

    fn bill(id: u64, kind: BillKind, mobile: &str, created: OffsetDateTime) -> Bill {
        Bill {
            id: NhanhId::new(id).unwrap(),
            kind,
            order_id: None,
            sale_id: None,
            customer: OrderCustomer {
                name: Some("Lan".into()),
                mobile: Some(mobile.into()),
                email: None,
                address: None,
            },
            items: vec![OrderLine {
                product_id: None,
                code: Some("A".into()),
                name: Some("Áo".into()),
                quantity: 2.0,
                price: 100_000,
                discount: 10_000,
            }],
            discount: 5_000,
            used_points_money: 3_000,
            description: None,
            created_at: Some(created),
        }
    }

    #[tokio::test]
    async fn sales_and_returns_become_hub_orders_once_and_deleted_bills_are_marked() {
        let f = processor_fixture().await;
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let later = f.now + Duration::minutes(5);
        let sale = bill(501, BillKind::Sale, "+84 912 000 501", later);
        assert_eq!(f.processor.apply_bill(&conn, &sale).await.unwrap(), Outcome::Applied(Stream::Bills));
        let calls = f.hub.calls.load(Ordering::SeqCst);
        assert_eq!(
            f.processor.apply_bill(&conn, &sale).await.unwrap(),
            Outcome::Skipped,
            "an unchanged bill is not sent again"
        );
        assert_eq!(f.hub.calls.load(Ordering::SeqCst), calls);
        let mut ret = bill(502, BillKind::Return, "0912000501", later);
        ret.sale_id = NhanhId::new(501);
        f.processor.apply_bill(&conn, &ret).await.unwrap();
        let mut orphan = bill(503, BillKind::Return, "12345", later);
        orphan.sale_id = NhanhId::new(400);
        f.processor.apply_bill(&conn, &orphan).await.unwrap();
        let mut of_order = bill(504, BillKind::Sale, "0912000501", later);
        of_order.order_id = NhanhId::new(77);
        assert_eq!(f.processor.apply_bill(&conn, &of_order).await.unwrap(), Outcome::Skipped);
        assert_eq!(
            f.processor
                .apply_bill(&conn, &bill(505, BillKind::Sale, "0912000501", f.now - Duration::days(1)))
                .await
                .unwrap(),
            Outcome::Dropped(Stream::Bills)
        );

        let orders = f.hub.all("orders");
        let by_code =
            |c: &str| orders.iter().find(|o| o["code"] == c).cloned().unwrap_or_else(|| panic!("{c}: {orders:?}"));
        assert_eq!(orders.len(), 3, "{orders:?}");
        let s = by_code("HD501");
        assert_eq!(
            (s["status"].as_str(), s["source_status"].as_str(), s["sale_channel"].as_str()),
            (Some("completed"), Some("RetailSale"), Some("POS"))
        );
        // 2 × 100 000 − (10 000 + 5 000) − 3 000 points + 0 shipping
        assert_eq!(
            (s["subtotal"].as_i64(), s["discount"].as_i64(), s["shipping_fee"].as_i64(), s["total"].as_i64()),
            (Some(200_000), Some(15_000), Some(0), Some(182_000))
        );
        assert!(s["return_of"].is_null());
        let r = by_code("HD502");
        assert_eq!(
            (r["status"].as_str(), r["return_of"].as_str(), r["customer_id"].clone()),
            (Some("returned"), Some("HD501"), s["customer_id"].clone())
        );
        let o = by_code("HD503");
        assert!(o["return_of"].is_null() && o["customer_id"].is_null(), "an unknown sale and a walk-in phone: {o}");
        assert_eq!(f.hub.all("customers").len(), 1, "one customer for both formats of the phone");

        f.processor.delete_bill(&conn, NhanhId::new(501).unwrap()).await.unwrap();
        assert_eq!(f.hub.all("orders").iter().find(|o| o["code"] == "HD501").unwrap()["deleted"], true);
    }

    /// One bill stream of a pass over the fixture's first two hours (the clock is fixed, so the
    /// budget never runs out).
    async fn one_pass(f: &crate::testing::ProcessorFixture) -> Result<Option<Stopped>, Failure> {
        let conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        let creds = f.processor.credentials(&conn).await.unwrap();
        let window = Window { from: f.now, after: None, until: f.now + Duration::hours(2), pages: 0 };
        f.processor.pass_bills(&conn, &creds, window, &mut Budget::until(f.now + Duration::hours(1))).await
    }

    fn hub_deleted(f: &crate::testing::ProcessorFixture, code: &str) -> bool {
        f.hub.all("orders").iter().find(|o| o["code"] == code).and_then(|o| o["deleted"].as_bool()).unwrap_or_default()
    }

    /// Issue 21: only a complete listing of a day, over the same depots, may delete, and only the
    /// bills absent from it; a bill whose write fails, a listing cut short or a depot dropped at a
    /// re-consent never reverse a sale.
    #[tokio::test]
    async fn only_a_complete_listing_of_the_same_depots_marks_absent_bills_deleted() {
        let f = processor_fixture().await;
        let later = f.now + Duration::minutes(5);
        for id in [601, 602] {
            f.nhanh.bills.lock().unwrap().insert(id, bill(id, BillKind::Sale, "0912000601", later));
        }
        one_pass(&f).await.unwrap();
        assert_eq!(f.hub.all("orders").len(), 2);
        // 601 changes and the Hub refuses it for good: it is still a bill Nhanh lists.
        f.nhanh.bills.lock().unwrap().get_mut(&601).unwrap().discount = 7_000;
        f.hub.refuse_order_writes.store(1, Ordering::SeqCst);
        one_pass(&f).await.unwrap();
        assert!(!hub_deleted(&f, "HD601"), "a refused re-apply is not a deletion");
        let stats = f.store.stats(&f.account).await.unwrap();
        assert_eq!(stats.streams["bills"].failed, 1, "the bill's failure counts under bills");
        assert_eq!(stats.streams.get("orders").map_or(0, |o| o.failed), 0, "not under orders");
        // A listing cut short (Nhanh repeated a page token) names only 601.
        f.nhanh.bills_cut_short.store(true, Ordering::SeqCst);
        one_pass(&f).await.unwrap();
        f.nhanh.bills_cut_short.store(false, Ordering::SeqCst);
        assert!(!hub_deleted(&f, "HD602"), "a listing cut short deletes nothing");
        // A depot dropped at a re-consent: 602 is no longer listed, but it was not deleted.
        let mut conn = crate::store::ConnectionStore::get(f.store.as_ref(), &f.account).await.unwrap().unwrap();
        conn.depot_ids = vec![3];
        crate::store::ConnectionStore::put(f.store.as_ref(), &conn).await.unwrap();
        let hidden = f.nhanh.bills.lock().unwrap().remove(&602).unwrap();
        one_pass(&f).await.unwrap();
        assert!(!hub_deleted(&f, "HD602"), "bills of a dropped depot are not deleted");
        // Nhanh lists it again, then a complete listing over the same depots no longer does.
        f.nhanh.bills.lock().unwrap().insert(602, hidden);
        one_pass(&f).await.unwrap();
        f.nhanh.bills.lock().unwrap().remove(&602);
        one_pass(&f).await.unwrap();
        assert!(hub_deleted(&f, "HD602"), "absent from a complete listing: deleted");
        assert!(!hub_deleted(&f, "HD601"));
    }
}
