//! Version-neutral Nhanh queries and writes: what the connector asks of either adapter.

use super::PageToken;
use crate::domain::NhanhId;
use time::OffsetDateTime;

/// A product list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductQuery {
    /// Where to start (`None`: the first page), as the previous page's [`Page::next`].
    pub after: Option<PageToken>,
    /// Items per page (the v2 adapter caps at 50, v3 at 100).
    pub per_page: u32,
    /// Only products changed at or after this instant.
    pub updated_from: Option<OffsetDateTime>,
    /// Only products changed at or before this instant.
    pub updated_to: Option<OffsetDateTime>,
}

/// How orders are selected.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderFilter {
    /// Orders by Nhanh id: at most [`crate::nhanh::NhanhApi::order_ids_per_read`] of them (v3's
    /// `ids`, up to 100; v2's `id`, one: the v2 adapter reads a longer list one id per call).
    Ids(Vec<NhanhId>),
    /// Orders changed in a window (at most [`crate::nhanh::NhanhApi::order_window`] long).
    UpdatedBetween(OffsetDateTime, OffsetDateTime),
    /// Orders created in a window (at most [`crate::nhanh::NhanhApi::order_window`] long).
    CreatedBetween(OffsetDateTime, OffsetDateTime),
    /// Orders of one customer mobile (no date window needed).
    CustomerMobile(String),
}

/// An order list query.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderQuery {
    /// Where to start (`None`: the first page).
    pub after: Option<PageToken>,
    /// Items per page (the v2 adapter caps at 100).
    pub per_page: u32,
    /// The selection.
    pub filter: OrderFilter,
}

/// A customer list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerQuery {
    /// Where to start (`None`: the first page).
    pub after: Option<PageToken>,
    /// Items per page (the v2 adapter caps at 50).
    pub per_page: u32,
    /// Only this mobile.
    pub mobile: Option<String>,
}

/// A line of an order pushed to Nhanh.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrderLine {
    /// Our product id (the Hub's), required by Nhanh.
    pub id: String,
    /// The Nhanh product, when the product came from Nhanh.
    pub nhanh_id: Option<NhanhId>,
    /// Name (lets Nhanh create an unknown product).
    pub name: String,
    /// SKU.
    pub code: Option<String>,
    /// Unit price in VND.
    pub price: i64,
    /// Quantity.
    pub quantity: f64,
}

/// An order pushed to Nhanh.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// Our id (the Hub order id); Nhanh returns it as `shopOrderId` and refuses a repeat.
    pub id: String,
    /// Customer name.
    pub customer_name: String,
    /// Customer mobile, normalised.
    pub customer_mobile: String,
    /// Customer email.
    pub customer_email: Option<String>,
    /// Free-text address.
    pub customer_address: Option<String>,
    /// Note.
    pub description: Option<String>,
    /// Lines.
    pub items: Vec<NewOrderLine>,
}

/// Nhanh's answer to an order push.
#[derive(Debug, Clone, PartialEq)]
pub struct AddedOrder {
    /// Nhanh's id for the order, when the answer carried it.
    pub nhanh_id: Option<NhanhId>,
}

/// A customer pushed to Nhanh (upserted by mobile).
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    /// Name.
    pub name: String,
    /// Mobile, normalised.
    pub mobile: String,
    /// Email.
    pub email: Option<String>,
    /// Free-text address.
    pub address: Option<String>,
    /// 1 male, 2 female.
    pub gender: Option<u8>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
}

impl NewCustomer {
    /// The `customer/add` item, the same in both versions: a retail customer (`type: 1`), its
    /// optional fields sent only when known.
    pub fn add_item(&self) -> serde_json::Value {
        #[derive(serde::Serialize)]
        struct AddItem<'a> {
            name: &'a str,
            mobile: &'a str,
            #[serde(rename = "type")]
            kind: u8,
            #[serde(skip_serializing_if = "Option::is_none")]
            email: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            address: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            gender: Option<u8>,
            #[serde(skip_serializing_if = "Option::is_none")]
            birthday: Option<&'a str>,
        }
        let item = AddItem {
            name: &self.name,
            mobile: &self.mobile,
            kind: 1,
            email: self.email.as_deref(),
            address: self.address.as_deref(),
            gender: self.gender,
            birthday: self.birthday.as_deref(),
        };
        serde_json::to_value(item).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BillQuery {
    /// Where to start (`None`: the first page).
    pub after: Option<PageToken>,
    /// Items per page.
    pub per_page: u32,
    /// First day.
    pub from: time::Date,
    /// Last day.
    pub to: time::Date,
}

/// A query of the bills deleted in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedBillsQuery {
    /// Where to start (`None`: the first page).
    pub after: Option<PageToken>,
    /// Deleted at or after.
    pub from: OffsetDateTime,
    /// Deleted at or before.
    pub to: OffsetDateTime,
}
