//! One retail bill as its Hub order (R14): upserted with its lines' products, its customer and
//! the sale a return names, or marked deleted.

use super::order::{state_version, OrderWrite, DELETED_VERSION};
use super::outcome::{Failure, OfRecord, Outcome};
use super::{Processor, SNAPSHOT};
use crate::domain::{AccountId, Connection, Counter, FailureKind, HubId, NhanhId, Phone, Stream};
use crate::hub::OrderSnapshot;
use crate::mapping;
use crate::nhanh::{Bill, BillKind};
use crate::store::Entity;
use std::collections::HashMap;
use time::OffsetDateTime;

impl Processor {
    /// Upserts one retail bill as its Hub order (R14, R3, R5, R6, R8).
    #[cfg(test)]
    pub(super) async fn apply_bill(&self, conn: &Connection, bill: &Bill) -> Result<Outcome, Failure> {
        self.apply_bill_with(conn, bill, &mut HashMap::new(), self.clock.now()).await
    }

    /// Upserts one retail bill as its Hub order (R14, R3, R5, R6, R8), with the Hub customers
    /// already resolved in this pass, by phone: a regular customer's many bills cost one lookup
    /// per pass, not one per bill. `read_at`: when the listing that holds it was sent.
    pub(super) async fn apply_bill_with(
        &self,
        conn: &Connection,
        bill: &Bill,
        customers: &mut HashMap<String, HubId>,
        read_at: OffsetDateTime,
    ) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("bill:{}", bill.id);
        if bill.order_id.is_some() {
            // The stock movement of an order, which syncs as that order.
            if let Err(e) = self.stats.count(account, Stream::Bills, Counter::Ignored, self.clock.now()).await {
                tracing::warn!(account_id = account.as_str(), error = %e, "counter not updated");
            }
            return Ok(Outcome::Skipped);
        }
        if let (Some(created), Some(connected)) = (bill.created_at, conn.connected_at) {
            if created < connected.replace_nanosecond(0).unwrap_or(connected) {
                return Ok(Outcome::Dropped(Stream::Bills));
            }
        }
        let key = bill.id.to_string();
        let phone = bill.customer.mobile.as_deref().and_then(Phone::parse_for_hub);
        let product_ids = self.bill_product_ids(account, bill, &record).await?;
        // A return names its sale when Nhanh does and the Hub holds it (a sale from before
        // `connected_at` is not there): `return_of` must name an order of the account.
        let return_of = match (bill.kind, bill.sale_id) {
            (BillKind::Return, Some(sale)) => self
                .maps
                .hub_id(account, Entity::Bill, &sale.to_string())
                .await
                .of_record(Stream::Bills, &record)?
                .map(|_| mapping::bill_code(sale)),
            _ => None,
        };
        let hub_id = self.maps.hub_id(account, Entity::Bill, &key).await.of_record(Stream::Bills, &record)?;
        // The last snapshot sent, read once: it names a known bill's customer and tells whether
        // anything changed.
        let last = match hub_id {
            Some(_) => self
                .intents
                .intent(account, &format!("{SNAPSHOT}:{}", Entity::Bill.as_str()), &key)
                .await
                .of_record(Stream::Bills, &record)?,
            None => None,
        };
        let customer_id = match &phone {
            Some(p) => Some(self.bill_customer(account, bill, p, last.as_deref(), customers, &record).await?),
            None => None,
        };
        let snapshot =
            mapping::bill_snapshot(bill, customer_id, phone.as_ref(), &product_ids, return_of, false, self.clock.now())
                .map_err(|e| Failure::permanent(FailureKind::Other, Stream::Bills, record.clone(), e.to_string()))?;
        if last.as_deref().is_some_and(|l| serde_json::to_string(&snapshot).is_ok_and(|now| now == l)) {
            return Ok(Outcome::Skipped);
        }
        let write = OrderWrite {
            entity: Entity::Bill,
            key: &key,
            hub_id,
            snapshot: &snapshot,
            version: state_version(None, read_at),
            record: &record,
        };
        self.put_order(account, write).await
    }

    /// Marks the Hub order of a deleted bill `deleted: true` (its last snapshot otherwise).
    pub(super) async fn delete_bill(&self, conn: &Connection, id: NhanhId) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("bill:{id}");
        let key = id.to_string();
        let Some(hub_id) = self.maps.hub_id(account, Entity::Bill, &key).await.of_record(Stream::Bills, &record)?
        else {
            return Ok(Outcome::Skipped);
        };
        let scope = format!("{SNAPSHOT}:{}", Entity::Bill.as_str());
        let last = self.intents.intent(account, &scope, &key).await.of_record(Stream::Bills, &record)?;
        let Some(mut snapshot) = last.and_then(|b| serde_json::from_str::<OrderSnapshot>(&b).ok()) else {
            return Err(Failure::permanent(
                FailureKind::NeverSynced,
                Stream::Bills,
                record,
                "no last snapshot of the bill to mark deleted",
            ));
        };
        if snapshot.deleted {
            return Ok(Outcome::Skipped);
        }
        snapshot.deleted = true;
        let write = OrderWrite {
            entity: Entity::Bill,
            key: &key,
            hub_id: Some(hub_id),
            snapshot: &snapshot,
            version: DELETED_VERSION.to_owned(),
            record: &record,
        };
        self.put_order(account, write).await
    }

    /// The Hub product of each of the bill's lines, where linked.
    async fn bill_product_ids(
        &self,
        account: &AccountId,
        bill: &Bill,
        record: &str,
    ) -> Result<Vec<Option<HubId>>, Failure> {
        let mut product_ids = Vec::with_capacity(bill.items.len());
        for line in &bill.items {
            let mapped = match line.product_id {
                Some(p) => {
                    self.maps.hub_id(account, Entity::Product, &p.to_string()).await.of_record(Stream::Bills, record)?
                }
                None => None,
            };
            product_ids.push(mapped);
        }
        Ok(product_ids)
    }

    /// The Hub customer of the bill's phone: resolved once per pass (`customers`), and for a known
    /// bill, the customer of its last snapshot.
    async fn bill_customer(
        &self,
        account: &AccountId,
        bill: &Bill,
        phone: &Phone,
        last: Option<&str>,
        customers: &mut HashMap<String, HubId>,
        record: &str,
    ) -> Result<HubId, Failure> {
        if let Some(id) = customers.get(phone.as_str()) {
            return Ok(id.clone());
        }
        let known = last.and_then(|b| serde_json::from_str::<OrderSnapshot>(b).ok()).and_then(|s| s.customer_id);
        let id = match known {
            Some(id) => id,
            None => self.resolve_customer(account, &bill.customer, phone, record).await?,
        };
        customers.insert(phone.as_str().to_owned(), id.clone());
        Ok(id)
    }
}
