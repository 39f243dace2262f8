//! Version-neutral Nhanh records and queries, as the rest of the connector sees them.

use crate::domain::{ApiVersion, AppId, BusinessId, NhanhId};
use crate::secrets::SecretString;
use time::OffsetDateTime;

/// Most customers one upsert call takes.
pub const MAX_CUSTOMERS_PER_UPSERT: usize = 50;

/// What a successful consent exchange grants.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The access token (one year, no refresh).
    pub access_token: SecretString,
    /// The merchant that consented.
    pub business_id: BusinessId,
    /// When the token expires.
    pub expires_at: OffsetDateTime,
    /// Depots granted; empty means all.
    pub depot_ids: Vec<u64>,
    /// Permissions as Nhanh listed them.
    pub permissions: Vec<serde_json::Value>,
    /// The API version the token belongs to.
    pub api_version: ApiVersion,
}

/// What a call on behalf of one business needs.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The app.
    pub app_id: AppId,
    /// The business.
    pub business_id: BusinessId,
    /// Its access token.
    pub access_token: SecretString,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// The page number (1-based).
    pub page: u32,
    /// How many pages the query has.
    pub total_pages: u32,
}

/// A product.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Nhanh's id.
    pub id: NhanhId,
    /// The parent product, for a variant.
    pub parent_id: Option<NhanhId>,
    /// The category.
    pub category_id: Option<NhanhId>,
    /// SKU.
    pub code: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Name.
    pub name: String,
    /// Retail price in VND.
    pub price: Option<i64>,
    /// Nhanh's status text (`Active`, `Inactive`, `New`, `OutOfStock`).
    pub status: Option<String>,
    /// Main image URL.
    pub image: Option<String>,
    /// When it was created.
    pub created_at: Option<OffsetDateTime>,
}

/// A node of the category tree.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    /// Nhanh's id.
    pub id: NhanhId,
    /// The parent, `None` for a root.
    pub parent_id: Option<NhanhId>,
    /// Code.
    pub code: Option<String>,
    /// Name.
    pub name: String,
    /// Sub-categories.
    pub children: Vec<Category>,
}

/// The customer fields carried on an order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderCustomer {
    /// Name.
    pub name: Option<String>,
    /// Mobile as Nhanh has it (not normalised).
    pub mobile: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Free-text address.
    pub address: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    /// The Nhanh product.
    pub product_id: Option<NhanhId>,
    /// SKU.
    pub code: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Quantity (may be fractional for weighed goods).
    pub quantity: f64,
    /// Unit price in VND.
    pub price: i64,
    /// Discount of the line in VND.
    pub discount: i64,
}

/// An order as Nhanh has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Nhanh's id.
    pub id: NhanhId,
    /// The id the pushing app gave it (the Hub order id for Hub-created orders, R8).
    pub shop_order_id: Option<String>,
    /// Nhanh's status text, kept as the Hub's `source_status`.
    pub status: String,
    /// The sale channel code.
    pub sale_channel: Option<i64>,
    /// Customer fields.
    pub customer: OrderCustomer,
    /// Lines.
    pub items: Vec<OrderLine>,
    /// Order-level discount in VND.
    pub money_discount: i64,
    /// Money value of points used, in VND.
    pub money_used_points: i64,
    /// Shipping fee charged to the customer, in VND.
    pub customer_ship_fee: i64,
    /// Customer note.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Option<OffsetDateTime>,
    /// When it last changed, if Nhanh says.
    pub updated_at: Option<OffsetDateTime>,
}

/// A customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// Nhanh's id.
    pub id: NhanhId,
    /// Name.
    pub name: Option<String>,
    /// Mobile as Nhanh has it.
    pub mobile: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Free-text address.
    pub address: Option<String>,
}

/// A product list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductQuery {
    /// Page (1-based).
    pub page: u32,
    /// Items per page (the v2 adapter caps at 50).
    pub per_page: u32,
    /// Only products changed at or after this instant.
    pub updated_from: Option<OffsetDateTime>,
    /// Only products changed at or before this instant.
    pub updated_to: Option<OffsetDateTime>,
}

/// How orders are selected.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderFilter {
    /// One order by Nhanh id.
    Id(NhanhId),
    /// Orders changed in a window (v2 allows at most 10 days).
    UpdatedBetween(OffsetDateTime, OffsetDateTime),
    /// Orders created in a window of dates (v2 allows at most 10 days).
    CreatedBetween(OffsetDateTime, OffsetDateTime),
    /// Orders of one customer mobile (no date window needed).
    CustomerMobile(String),
}

/// An order list query.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderQuery {
    /// Page (1-based).
    pub page: u32,
    /// Items per page (the v2 adapter caps at 100).
    pub per_page: u32,
    /// The selection.
    pub filter: OrderFilter,
}

/// A customer list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerQuery {
    /// Page (1-based).
    pub page: u32,
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

/// A status change sent to Nhanh.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    /// Nhanh's order id.
    pub nhanh_id: NhanhId,
    /// The new Nhanh status text.
    pub status: String,
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

/// What a webhook is about, independent of the API version's event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// Nhanh switched webhooks on (connectivity test).
    WebhooksEnabled,
    /// An order was added or changed.
    OrderChanged,
    /// An order was deleted.
    OrderDeleted,
    /// A product was added or changed.
    ProductChanged,
    /// Products were deleted.
    ProductDeleted,
    /// An event the connector does not sync (inventory, bills, unknown names).
    NotSynced,
}

impl WebhookKind {
    /// The entity name used in queue group ids and the stream name on the status.
    pub fn entity_and_stream(self) -> (&'static str, &'static str) {
        match self {
            Self::OrderChanged | Self::OrderDeleted => ("order", "orders"),
            Self::ProductChanged | Self::ProductDeleted => ("product", "products"),
            Self::WebhooksEnabled | Self::NotSynced => ("other", "other"),
        }
    }
}

/// A webhook's envelope, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Nhanh's event name, as sent.
    pub event_name: String,
    /// What it is about.
    pub kind: WebhookKind,
    /// The business it comes from.
    pub business_id: BusinessId,
    /// The verify token it carries (compare in constant time, never log); queued copies have none.
    pub verify_token: Option<SecretString>,
    /// The records it names (one per order/product event; several for a bulk delete).
    pub record_ids: Vec<NhanhId>,
}
