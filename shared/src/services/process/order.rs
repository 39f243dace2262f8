//! Nhanh orders → Hub orders (R3, R5–R8): re-read by id, customer resolved by phone, the full
//! snapshot sent; a deleted order is marked deleted from its last snapshot.

use super::outcome::{Failure, Outcome};
use super::{Processor, PUSH_ORDER, SNAPSHOT};
use crate::domain::Stream;
use crate::domain::{AccountId, Connection, HubId, NhanhId, Phone};
use crate::hub::OrderSnapshot;
use crate::mapping;
use crate::nhanh::{Credentials, Order, OrderFilter, OrderQuery};
use crate::store::Entity;
use serde_json::Value;

impl Processor {
    pub(super) async fn sync_order(
        &self,
        conn: &Connection,
        creds: &Credentials,
        id: NhanhId,
    ) -> Result<Outcome, Failure> {
        let record = format!("order:{id}");
        let page = attempt!(
            Stream::Orders,
            record,
            self.nhanh.orders(creds, &OrderQuery { after: None, per_page: 1, filter: OrderFilter::Id(id) })
        );
        let Some(order) = page.items.into_iter().find(|o| o.id == id) else {
            return Err(Failure::permanent(Stream::Orders, record, "Nhanh no longer has this order"));
        };
        self.apply_order(conn, order).await
    }

    /// Applies the current state of a Nhanh order to the Hub (R3, R5–R8).
    pub(super) async fn apply_order(&self, conn: &Connection, order: Order) -> Result<Outcome, Failure> {
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
        let known = attempt!(Stream::Orders, record, self.maps.hub_ids_of(account, &wanted));
        let mut hub_id = known.get(&(Entity::Order, key.clone())).cloned();
        if hub_id.is_none() {
            if let Some(shop_id) = order.shop_order_id.as_deref() {
                // R8: the echo of an order the connector pushed from the Hub.
                if attempt!(Stream::Orders, record, self.intents.intent(account, PUSH_ORDER, shop_id)).is_some() {
                    if let Ok(h) = HubId::parse(shop_id) {
                        attempt!(Stream::Orders, record, self.maps.link(account, Entity::Order, &key, &h));
                        hub_id = Some(h);
                    }
                }
            }
        }
        // R5: an order without a phone the Hub can store syncs without a customer link.
        let phone = order.customer.mobile.as_deref().and_then(Phone::parse_for_hub);
        let customer_id = match &phone {
            Some(p) => Some(self.resolve_customer(account, &order.customer, p, &record).await?),
            None => None,
        };
        let product_ids: Vec<Option<HubId>> = order
            .items
            .iter()
            .map(|line| line.product_id.and_then(|p| known.get(&(Entity::Product, p.to_string())).cloned()))
            .collect();
        let snapshot =
            mapping::order_snapshot(&order, customer_id, phone.as_ref(), &product_ids, false, self.clock.now());
        self.put_order(account, Entity::Order, &key, hub_id, &snapshot, &record).await?;
        Ok(Outcome::Applied(Stream::Orders))
    }

    /// Creates (once) or updates the Hub order of a Nhanh order or retail bill (`entity`) and
    /// records the snapshot sent.
    pub(super) async fn put_order(
        &self,
        account: &AccountId,
        entity: Entity,
        key: &str,
        hub_id: Option<HubId>,
        snapshot: &OrderSnapshot,
        record: &str,
    ) -> Result<(), Failure> {
        match hub_id {
            Some(id) => attempt!(Stream::Orders, record, self.hub.update_order(account, &id, snapshot)),
            None => {
                let hub = self.hub.clone();
                let acct = account.clone();
                let (id, stale) = attempt!(
                    Stream::Orders,
                    record,
                    self.create_once(account, entity, key, snapshot, |body: OrderSnapshot, k: String| {
                        let hub = hub.clone();
                        let acct = acct.clone();
                        async move { hub.create_order(&acct, &body, &k).await }
                    })
                );
                if stale {
                    attempt!(Stream::Orders, record, self.hub.update_order(account, &id, snapshot));
                }
            }
        }
        let body = serde_json::to_string(snapshot).unwrap_or_default();
        attempt!(
            Stream::Orders,
            record,
            self.intents.set_intent(account, &format!("{SNAPSHOT}:{}", entity.as_str()), key, &body)
        );
        Ok(())
    }

    pub(super) async fn delete_order(&self, conn: &Connection, id: NhanhId) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("order:{id}");
        let key = id.to_string();
        let Some(hub_id) = attempt!(Stream::Orders, record, self.maps.hub_id(account, Entity::Order, &key)) else {
            return Ok(Outcome::Skipped);
        };
        let last = attempt!(Stream::Orders, record, self.intents.intent(account, &format!("{SNAPSHOT}:order"), &key));
        let Some(mut snapshot) = last.and_then(|b| serde_json::from_str::<Value>(&b).ok()) else {
            return Err(Failure::permanent(Stream::Orders, record, "no last snapshot of the order to mark deleted"));
        };
        snapshot["deleted"] = Value::Bool(true);
        let body: OrderSnapshot = serde_json::from_value(snapshot)
            .map_err(|e| Failure::permanent(Stream::Orders, record.clone(), e.to_string()))?;
        attempt!(Stream::Orders, record, self.hub.update_order(account, &hub_id, &body));
        let text = serde_json::to_string(&body).unwrap_or_default();
        attempt!(Stream::Orders, record, self.intents.set_intent(account, &format!("{SNAPSHOT}:order"), &key, &text));
        Ok(Outcome::Applied(Stream::Orders))
    }
}
