//! Hub events → Nhanh (R6, R8): a Hub-created customer goes to `customer/add`, a Hub-created
//! order to `order/add` with the Hub id, its intent recorded first so the echo is recognised.

use super::outcome::{classify, event_record_id, Failure, OfRecord, Outcome};
use super::{Processor, PUSH_ORDER};
use crate::domain::Stream;
use crate::domain::{Connection, HubId, NhanhId, Phone};
use crate::hub::HubCustomer;
use crate::nhanh::{self, Credentials, NewOrder, NewOrderLine, NhanhError, OrderFilter, OrderQuery};
use crate::store::Entity;
use serde_json::Value;

impl Processor {
    pub(super) async fn hub_event(
        &self,
        conn: &Connection,
        creds: &Credentials,
        event: &Value,
    ) -> Result<Outcome, Failure> {
        let data = &event["data"];
        let hub_id = event_record_id(data);
        match (event["event"].as_str(), hub_id) {
            (Some("customer.created"), Some(id)) => {
                let record = format!("customer:{}", id.as_str());
                if self.erasure.is_erased(&conn.account_id, &id).await.of_record(Stream::Customers, &record)? {
                    // An erased member is not pushed to Nhanh (the Hub's retry of an older event).
                    return Ok(Outcome::Skipped);
                }
                let customer = HubCustomer::from_event_data(id, data);
                self.push_customers(conn, creds, std::slice::from_ref(&customer))
                    .await
                    .pop()
                    .unwrap_or(Ok(Outcome::Skipped))
            }
            (Some("order.created"), Some(id)) => self.push_order(conn, creds, &id, data).await,
            (Some(_), None) => {
                Err(Failure::permanent(Stream::HubEvents, "event:malformed", "Hub event without data.id"))
            }
            _ => Ok(Outcome::Skipped),
        }
    }

    pub(super) async fn push_order(
        &self,
        conn: &Connection,
        creds: &Credentials,
        hub_id: &HubId,
        data: &Value,
    ) -> Result<Outcome, Failure> {
        let account = &conn.account_id;
        let record = format!("order:{}", hub_id.as_str());
        if self.maps.nhanh_key(account, Entity::Order, hub_id).await.of_record(Stream::Orders, &record)?.is_some() {
            return Ok(Outcome::Skipped);
        }
        let customer = &data["customer"];
        let Some(phone) = customer["phone"].as_str().and_then(Phone::parse) else {
            return Err(Failure::permanent(
                Stream::Orders,
                record,
                "the order's customer has no valid Vietnamese phone (Nhanh requires one)",
            ));
        };
        let mut items = Vec::new();
        for (i, line) in data["items"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
            let product = line["product_id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| line["product_id"].as_u64().map(|n| n.to_string()));
            let nhanh_id = match product.as_deref().and_then(|p| HubId::parse(p).ok()) {
                Some(h) => self
                    .maps
                    .nhanh_key(account, Entity::Product, &h)
                    .await
                    .of_record(Stream::Orders, &record)?
                    .and_then(|k| NhanhId::parse(&k).ok()),
                None => None,
            };
            let text = |k: &str| line[k].as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
            items.push(NewOrderLine {
                id: product.unwrap_or_else(|| format!("{}-{}", hub_id.as_str(), i + 1)),
                nhanh_id,
                name: text("name").or_else(|| text("code")).unwrap_or_else(|| "Sản phẩm".into()),
                code: text("code"),
                price: line["price"].as_i64().or_else(|| line["price"].as_f64().map(|f| f.round() as i64)).unwrap_or(0),
                quantity: line["quantity"].as_f64().unwrap_or(1.0),
            });
        }
        let text = |v: &Value| v.as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
        let order = NewOrder {
            id: hub_id.as_str().to_owned(),
            customer_name: text(&customer["name"]).unwrap_or_else(|| phone.as_str().to_owned()),
            customer_mobile: phone.as_str().to_owned(),
            customer_email: None,
            customer_address: text(&customer["address"]),
            description: text(&data["note"]),
            items,
        };
        // The intent first: an echo, or a retry Nhanh refuses as a repeated id, finds it.
        let previous =
            self.intents.intent(account, PUSH_ORDER, hub_id.as_str()).await.of_record(Stream::Orders, &record)?;
        self.intents
            .put_intent(account, PUSH_ORDER, hub_id.as_str(), "pushed")
            .await
            .of_record(Stream::Orders, &record)?;
        let nhanh_id = match self.nhanh.add_order(creds, &order).await {
            Ok(added) => match added.nhanh_id {
                Some(id) => Some(id),
                None => self.find_pushed_order(creds, hub_id, &phone, &record).await?,
            },
            // Nhanh has the id already (a retry after a lost answer, or a redelivery): find it.
            Err(NhanhError::Duplicate(message)) | Err(NhanhError::Rejected { message, .. })
                if previous.is_some() || nhanh::is_duplicate_message(&message) =>
            {
                let found = self.find_pushed_order(creds, hub_id, &phone, &record).await?;
                if found.is_none() {
                    return Err(Failure::permanent(
                        Stream::Orders,
                        record,
                        format!("Nhanh refused the order: {message}"),
                    ));
                }
                found
            }
            Err(e) => return Err(classify(Stream::Orders, &record, e.into())),
        };
        if let Some(nhanh_id) = nhanh_id {
            self.maps
                .link(account, Entity::Order, &nhanh_id.to_string(), hub_id)
                .await
                .of_record(Stream::Orders, &record)?;
        }
        Ok(Outcome::Applied(Stream::Orders))
    }

    /// Finds the Nhanh order carrying our id (v2 `shopOrderId`, v3 `channel.appOrderId`) among
    /// the customer's orders (at most 20 pages).
    pub(super) async fn find_pushed_order(
        &self,
        creds: &Credentials,
        hub_id: &HubId,
        phone: &Phone,
        record: &str,
    ) -> Result<Option<NhanhId>, Failure> {
        let mut after = None;
        for _ in 0..20 {
            let q = OrderQuery { after, per_page: 100, filter: OrderFilter::CustomerMobile(phone.as_str().to_owned()) };
            let found = self.nhanh.orders(creds, &q).await.of_record(Stream::Orders, record)?;
            if let Some(o) = found.items.iter().find(|o| o.shop_order_id.as_deref() == Some(hub_id.as_str())) {
                return Ok(Some(o.id));
            }
            match found.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(None)
    }
}
