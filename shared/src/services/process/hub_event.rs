//! Hub events → Nhanh (R6, R8): a Hub-created customer goes to `customer/add`, a Hub-created
//! order to `order/add` with the Hub id, its intent recorded first so the echo is recognised.

use super::outcome::{classify, Failure, OfRecord, Outcome};
use super::{Processor, PUSH_ORDER};
use crate::domain::FailureKind;
use crate::domain::Stream;
use crate::domain::{Connection, HubId, NhanhId, Phone};
use crate::hub::{HubEventRecord, HubOrder, OrderItem};
use crate::nhanh::{self, Credentials, NewOrder, NewOrderLine, NhanhError, OrderFilter, OrderQuery};
use crate::store::Entity;

impl Processor {
    /// Applies a Hub event's record to Nhanh (an erasure is applied before the connection is read).
    pub(super) async fn hub_event(
        &self,
        conn: &Connection,
        creds: &Credentials,
        record: &HubEventRecord,
    ) -> Result<Outcome, Failure> {
        match record {
            HubEventRecord::CustomerCreated(customer) => {
                let record = format!("customer:{}", customer.id.as_str());
                if self.erasure.is_erased(&conn.account_id, &customer.id).await.of_record(Stream::Customers, &record)? {
                    // An erased member is not pushed to Nhanh (the Hub's retry of an older event).
                    return Ok(Outcome::Skipped);
                }
                self.push_customers(conn, creds, std::slice::from_ref(customer))
                    .await
                    .pop()
                    .unwrap_or(Ok(Outcome::Skipped))
            }
            HubEventRecord::OrderCreated(order) => self.push_order(conn, creds, order).await,
            HubEventRecord::CustomerErased { id, phone } => {
                self.erase_customer(&conn.account_id, id, phone.as_ref()).await
            }
        }
    }

    /// Pushes an order created in the Hub to Nhanh's `order/add`, once (R8).
    pub(super) async fn push_order(
        &self,
        conn: &Connection,
        creds: &Credentials,
        hub_order: &HubOrder,
    ) -> Result<Outcome, Failure> {
        let (account, hub_id) = (&conn.account_id, &hub_order.id);
        let record = format!("order:{}", hub_id.as_str());
        if self.maps.nhanh_key(account, Entity::Order, hub_id).await.of_record(Stream::Orders, &record)?.is_some() {
            return Ok(Outcome::Skipped);
        }
        let customer = &hub_order.customer;
        let Some(phone) = customer.phone.as_deref().and_then(Phone::parse) else {
            return Err(Failure::permanent(
                FailureKind::InvalidPhone,
                Stream::Orders,
                record,
                "the order's customer has no valid Vietnamese phone (Nhanh requires one)",
            ));
        };
        let mut items = Vec::with_capacity(hub_order.items.len());
        for (i, line) in hub_order.items.iter().enumerate() {
            items.push(self.order_line(account, hub_id, i, line, &record).await?);
        }
        let order = NewOrder {
            id: hub_id.as_str().to_owned(),
            customer_name: present(&customer.name).unwrap_or_else(|| phone.as_str().to_owned()),
            customer_mobile: phone.as_str().to_owned(),
            customer_email: None,
            customer_address: present(&customer.address),
            description: present(&hub_order.note),
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
                        FailureKind::NhanhRefused,
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

    /// The Nhanh line of the Hub order's line number `i` (0-based): its product by the id map
    /// when linked; a line without a product gets an id of its own (`{order}-{n}`).
    async fn order_line(
        &self,
        account: &crate::domain::AccountId,
        hub_id: &HubId,
        i: usize,
        line: &OrderItem,
        record: &str,
    ) -> Result<NewOrderLine, Failure> {
        let nhanh_id = match &line.product_id {
            Some(h) => self
                .maps
                .nhanh_key(account, Entity::Product, h)
                .await
                .of_record(Stream::Orders, record)?
                .and_then(|k| NhanhId::parse(&k).ok()),
            None => None,
        };
        Ok(NewOrderLine {
            id: line
                .product_id
                .as_ref()
                .map_or_else(|| format!("{}-{}", hub_id.as_str(), i + 1), |p| p.as_str().to_owned()),
            nhanh_id,
            name: present(&line.name).or_else(|| present(&line.code)).unwrap_or_else(|| "Sản phẩm".into()),
            code: present(&line.code),
            price: line.price,
            quantity: line.quantity,
        })
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

/// A text field of a Hub record that holds more than blanks.
fn present(field: &Option<String>) -> Option<String> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}
