//! Nhanh orders → Hub orders (R3, R5–R8): re-read by id, customer resolved by phone, the full
//! snapshot sent; a deleted order is marked deleted from its last snapshot.
//!
//! Never an older state over a newer one (R8). A webhook, a redelivery after a visibility timeout
//! and a scheduled pass may read one order at different moments and write it concurrently. Each
//! write carries the version of the state it holds ([`state_version`]: Nhanh's `updatedAt`, then
//! when the read began) and goes through three steps: claim the order's snapshot record with one
//! conditional write (refused when a newer version is recorded: then nothing is sent), write the
//! Hub, then read the record again and, while a newer snapshot was claimed meanwhile, send that
//! one. Whoever writes the Hub last checks afterwards, so the Hub ends with the newest state read.

use super::outcome::{Failure, OfRecord, Outcome};
use super::{Processor, PUSH_ORDER, SNAPSHOT};
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{AccountId, Connection, HubId, NhanhId, Phone};
use crate::hub::OrderSnapshot;
use crate::mapping;
use crate::nhanh::{Credentials, Order, OrderFilter, OrderQuery};
use crate::store::Entity;
use time::OffsetDateTime;

/// The version of a deleted record: newer than any state read (a deletion in Nhanh is final).
pub(crate) const DELETED_VERSION: &str = "99999999999.99999999999999999999";

/// How many newer snapshots one write sends after its own before it gives up for this delivery
/// (an order that changes this often is retried later, nothing is lost).
const CATCH_UP_WRITES: usize = 5;

/// The version of a Nhanh state read at `read_at` (the instant the read was sent): Nhanh's
/// update stamp first (whole seconds; absent on some v2 answers, then 0), then the read's start
/// in nanoseconds. A read sent after a change began sees it, so of two reads of one update second
/// the later-sent one is at least as new. Fixed-width text, so versions compare as strings (in
/// DynamoDB conditions too); values outside the width are clamped, never a panic.
pub(crate) fn state_version(updated_at: Option<OffsetDateTime>, read_at: OffsetDateTime) -> String {
    let updated = updated_at.map_or(0, |u| u.unix_timestamp().clamp(0, 99_999_999_999));
    let read = read_at.unix_timestamp_nanos().clamp(0, 99_999_999_999_999_999_999);
    format!("{updated:011}.{read:020}")
}

/// One write of a Hub order: what it is, and the version of the state it holds.
pub(super) struct OrderWrite<'a> {
    /// Order or bill.
    pub entity: Entity,
    /// The Nhanh key.
    pub key: &'a str,
    /// The Hub order, when known.
    pub hub_id: Option<HubId>,
    /// The snapshot to send.
    pub snapshot: &'a OrderSnapshot,
    /// Its [`state_version`] (or [`DELETED_VERSION`]).
    pub version: String,
    /// The record's name on the error log.
    pub record: &'a str,
}

impl OrderWrite<'_> {
    /// The stream the write counts on: bills under bills, orders under orders.
    fn stream(&self) -> Stream {
        match self.entity {
            Entity::Bill => Stream::Bills,
            _ => Stream::Orders,
        }
    }
}

impl Processor {
    pub(super) async fn sync_order(
        &self,
        conn: &Connection,
        creds: &Credentials,
        id: NhanhId,
    ) -> Result<Outcome, Failure> {
        let record = format!("order:{id}");
        let read_at = self.clock.now();
        let page = self
            .nhanh
            .orders(creds, &OrderQuery { after: None, per_page: 1, filter: OrderFilter::Ids(vec![id]) })
            .await
            .of_record(Stream::Orders, &record)?;
        let Some(order) = page.items.into_iter().find(|o| o.id == id) else {
            return Err(Failure::permanent(
                FailureKind::GoneFromNhanh,
                Stream::Orders,
                record,
                "Nhanh no longer has this order",
            ));
        };
        self.apply_order(conn, order, read_at).await
    }

    /// Applies the state of a Nhanh order read at `read_at` to the Hub (R3, R5–R8), unless a newer
    /// state of it is recorded already.
    pub(super) async fn apply_order(
        &self,
        conn: &Connection,
        order: Order,
        read_at: OffsetDateTime,
    ) -> Result<Outcome, Failure> {
        self.apply_order_remembering(conn, order, read_at, &mut None).await
    }

    /// [`Processor::apply_order`] with the customer last resolved for this phone (`memo`): an
    /// order whose customer fields are the same reuses its Hub id instead of looking it up again
    /// (a drain's orders of one customer), and `memo` is left with this order's customer.
    pub(super) async fn apply_order_remembering(
        &self,
        conn: &Connection,
        order: Order,
        read_at: OffsetDateTime,
        memo: &mut Option<(crate::nhanh::OrderCustomer, HubId)>,
    ) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let id = order.id;
        let record = format!("order:{id}");
        if let (Some(created), Some(connected)) = (order.created_at, conn.connected_at) {
            // Nhanh's times have whole seconds: an order of the connecting second is in the period.
            if created < connected.replace_nanosecond(0).unwrap_or(connected) {
                return Ok(Outcome::Dropped(Stream::Orders));
            }
        }
        let key = id.to_string();
        // One read for the order's own map and its lines' products.
        let mut wanted = vec![(Entity::Order, key.clone())];
        wanted.extend(order.items.iter().filter_map(|l| l.product_id).map(|p| (Entity::Product, p.to_string())));
        let known = self.maps.hub_ids_of(account, &wanted).await.of_record(Stream::Orders, &record)?;
        let mut hub_id = known.get(&(Entity::Order, key.clone())).cloned();
        if hub_id.is_none() {
            if let Some(shop_id) = order.shop_order_id.as_deref() {
                // R8: the echo of an order the connector pushed from the Hub.
                if self.intents.intent(account, PUSH_ORDER, shop_id).await.of_record(Stream::Orders, &record)?.is_some()
                {
                    if let Ok(h) = HubId::parse(shop_id) {
                        self.maps.link(account, Entity::Order, &key, &h).await.of_record(Stream::Orders, &record)?;
                        hub_id = Some(h);
                    }
                }
            }
        }
        // R5: an order without a phone the Hub can store syncs without a customer link.
        let phone = order.customer.mobile.as_deref().and_then(Phone::parse_for_hub);
        let customer_id = match (&phone, memo.as_ref()) {
            (Some(_), Some((seen, id))) if *seen == order.customer => Some(id.clone()),
            (Some(p), _) => {
                let id = self.resolve_customer(account, &order.customer, p, &record).await?;
                *memo = Some((order.customer.clone(), id.clone()));
                Some(id)
            }
            (None, _) => None,
        };
        let product_ids: Vec<Option<HubId>> = order
            .items
            .iter()
            .map(|line| line.product_id.and_then(|p| known.get(&(Entity::Product, p.to_string())).cloned()))
            .collect();
        let snapshot =
            mapping::order_snapshot(&order, customer_id, phone.as_ref(), &product_ids, false, self.clock.now())
                .map_err(|e| Failure::permanent(FailureKind::Other, Stream::Orders, record.clone(), e.to_string()))?;
        let write = OrderWrite {
            entity: Entity::Order,
            key: &key,
            hub_id,
            snapshot: &snapshot,
            version: state_version(order.updated_at, read_at),
            record: &record,
        };
        self.put_order(account, write).await
    }

    /// Creates (once) or updates the Hub order of a Nhanh order or retail bill, never over a
    /// newer state (see the module's doc): applied on the write's stream, or skipped when a newer
    /// state is recorded (nothing sent).
    pub(super) async fn put_order(&self, account: &AccountId, w: OrderWrite<'_>) -> Result<Outcome, Failure> {
        let (stream, record) = (w.stream(), w.record);
        let scope = format!("{SNAPSHOT}:{}", w.entity.as_str());
        let body = serde_json::to_string(w.snapshot)
            .map_err(|e| Failure::permanent(FailureKind::Other, stream, record, e.to_string()))?;
        let claimed =
            self.intents.claim_snapshot(account, &scope, w.key, &w.version, &body).await.of_record(stream, record)?;
        if claimed.version != w.version || claimed.body != body {
            tracing::info!(
                account_id = account.as_str(),
                record,
                version = w.version.as_str(),
                newer = claimed.version.as_str(),
                "a newer state of this order is recorded: the older one read here is not sent"
            );
            return Ok(Outcome::Skipped);
        }
        let id = match w.hub_id {
            Some(id) => {
                self.hub.update_order(account, &id, w.snapshot).await.of_record(stream, record)?;
                id
            }
            None => {
                let hub = self.hub.clone();
                let acct = account.clone();
                let (id, stale) = self
                    .create_once(account, w.entity, w.key, w.snapshot, |body: OrderSnapshot, k: String| {
                        let hub = hub.clone();
                        let acct = acct.clone();
                        async move { hub.create_order(&acct, &body, &k).await }
                    })
                    .await
                    .of_record(stream, record)?;
                if stale {
                    self.hub.update_order(account, &id, w.snapshot).await.of_record(stream, record)?;
                }
                id
            }
        };
        // A newer snapshot claimed while this one was written may have reached the Hub first.
        let mut sent = claimed;
        for _ in 0..CATCH_UP_WRITES {
            let now = self.intents.versioned_snapshot(account, &scope, w.key).await.of_record(stream, record)?;
            let Some(newer) = now.filter(|n| *n != sent) else {
                return Ok(Outcome::Applied(stream));
            };
            let snapshot: OrderSnapshot = serde_json::from_str(&newer.body).map_err(|e| {
                Failure::permanent(
                    FailureKind::Other,
                    stream,
                    record,
                    format!("recorded snapshot does not decode: {e}"),
                )
            })?;
            tracing::info!(
                account_id = account.as_str(),
                record,
                version = newer.version.as_str(),
                "a newer state was recorded while this one was written: it is sent again"
            );
            self.hub.update_order(account, &id, &snapshot).await.of_record(stream, record)?;
            sent = newer;
        }
        Err(Failure::Retry {
            reason: format!("{record} kept changing while it was written; retried later"),
            kind: FailureKind::Other,
            not_before: None,
            reauth: false,
            hub_down: false,
        })
    }

    pub(super) async fn delete_order(&self, conn: &Connection, id: NhanhId) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("order:{id}");
        let key = id.to_string();
        let Some(hub_id) = self.maps.hub_id(account, Entity::Order, &key).await.of_record(Stream::Orders, &record)?
        else {
            return Ok(Outcome::Skipped);
        };
        let last = self
            .intents
            .intent(account, &format!("{SNAPSHOT}:order"), &key)
            .await
            .of_record(Stream::Orders, &record)?;
        let Some(last) = last else {
            return Err(Failure::permanent(
                FailureKind::NeverSynced,
                Stream::Orders,
                record,
                "no last snapshot of the order to mark deleted",
            ));
        };
        let body = OrderSnapshot {
            deleted: true,
            ..serde_json::from_str(&last).map_err(|e| {
                Failure::permanent(
                    FailureKind::Other,
                    Stream::Orders,
                    record.clone(),
                    format!("the order's last snapshot does not read: {e}"),
                )
            })?
        };
        let write = OrderWrite {
            entity: Entity::Order,
            key: &key,
            hub_id: Some(hub_id),
            snapshot: &body,
            version: DELETED_VERSION.to_owned(),
            record: &record,
        };
        self.put_order(account, write).await
    }
}
