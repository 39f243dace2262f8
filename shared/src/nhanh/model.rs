//! Version-neutral Nhanh records and queries, as the rest of the connector sees them.

pub use crate::domain::Depot;
use crate::domain::{ApiVersion, AppId, BusinessId, NhanhId};
use crate::secrets::SecretString;
use time::OffsetDateTime;

/// Most customers one upsert call takes, whatever the version (v2 takes 50, v3 100); the adapter
/// splits larger lists.
pub const MAX_CUSTOMERS_PER_UPSERT: usize = 50;

/// An opaque position in a Nhanh listing: made by the adapter that answered the page and read back
/// only by it (v2: a page number; v3: the `paginator.next` it must echo exactly). Work items and
/// pass continuations carry it as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PageToken(pub String);

impl PageToken {
    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One permission a token grant names, kept exactly as Nhanh gave it: their names and shape are
/// documented nowhere (`[?]`), so the connector stores them opaque, for support, and decides
/// nothing by them (R2 probes each stream instead).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Permission(serde_json::Value);

impl Permission {
    /// A permission from the grant's JSON.
    pub fn of_grant(value: serde_json::Value) -> Self {
        Self(value)
    }
}

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
    pub permissions: Vec<Permission>,
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
    /// The API version the token belongs to (picks the adapter).
    pub api_version: ApiVersion,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` at the end. A short page may still have a next one.
    pub next: Option<PageToken>,
    /// How many pages the query has, when Nhanh says (v2 does, v3 never).
    pub total_pages: Option<u32>,
    /// The listing ended early, not at its end: Nhanh answered the same page token again (the
    /// loop guard) or a page cap was met. What was not listed is unknown, so nothing may be taken
    /// as gone from such a listing (issue 21: bills marked deleted after an incomplete re-read).
    pub truncated: bool,
}

/// A product's status, whatever the version's encoding (v2 strings, v3 ints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductStatus {
    /// New (offline store only).
    New,
    /// Selling.
    Active,
    /// Stopped selling.
    Inactive,
    /// Out of stock.
    OutOfStock,
    /// Anything else, as Nhanh sent it.
    Other(String),
}

impl ProductStatus {
    /// From the v2 name (`Active`, `Inactive`, `New`, `OutOfStock`); other text is kept.
    pub fn from_name(name: &str) -> Self {
        match name {
            "New" => Self::New,
            "Active" => Self::Active,
            "Inactive" => Self::Inactive,
            "OutOfStock" => Self::OutOfStock,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// An order's status, whatever the version's encoding: the v2 names (nhanh-api-v2.md §6.1),
/// onto which v3's integers are mapped (nhanh-api-v3.md §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStatus {
    /// `New` (54).
    New,
    /// `Confirming` (55).
    Confirming,
    /// `CustomerConfirming` (57).
    CustomerConfirming,
    /// `Confirmed` (56).
    Confirmed,
    /// `Packing` (42).
    Packing,
    /// `Packed` (40).
    Packed,
    /// `ChangeDepot` (73).
    ChangeDepot,
    /// `Pickup` (43).
    Pickup,
    /// `Shipping` (59).
    Shipping,
    /// `Success` (60).
    Success,
    /// `Failed` (61).
    Failed,
    /// `Canceled` (63).
    Canceled,
    /// `Aborted` (64).
    Aborted,
    /// `CarrierCanceled` (58).
    CarrierCanceled,
    /// `SoldOut` (68).
    SoldOut,
    /// `Returning` (71).
    Returning,
    /// `Returned` (72).
    Returned,
    /// `ConfirmReturned` (74).
    ConfirmReturned,
    /// Anything else: the v2 text, or a v3 integer as its decimal text.
    Other(String),
}

impl OrderStatus {
    const NAMED: [(&'static str, Self); 18] = [
        ("New", Self::New),
        ("Confirming", Self::Confirming),
        ("CustomerConfirming", Self::CustomerConfirming),
        ("Confirmed", Self::Confirmed),
        ("Packing", Self::Packing),
        ("Packed", Self::Packed),
        ("ChangeDepot", Self::ChangeDepot),
        ("Pickup", Self::Pickup),
        ("Shipping", Self::Shipping),
        ("Success", Self::Success),
        ("Failed", Self::Failed),
        ("Canceled", Self::Canceled),
        ("Aborted", Self::Aborted),
        ("CarrierCanceled", Self::CarrierCanceled),
        ("SoldOut", Self::SoldOut),
        ("Returning", Self::Returning),
        ("Returned", Self::Returned),
        ("ConfirmReturned", Self::ConfirmReturned),
    ];

    /// From the v2 name; other text is kept as it is.
    pub fn from_name(name: &str) -> Self {
        Self::NAMED.iter().find(|(n, _)| *n == name).map_or_else(|| Self::Other(name.to_owned()), |(_, s)| s.clone())
    }

    /// The v2 name (the Hub's `source_status`, the same whichever version a connection speaks);
    /// an unknown status as it came.
    pub fn name(&self) -> &str {
        match self {
            Self::Other(text) => text,
            known => Self::NAMED.iter().find(|(_, s)| s == known).map_or("", |(n, _)| n),
        }
    }
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
    /// Nhanh's status, when sent.
    pub status: Option<ProductStatus>,
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
    /// Nhanh's status (its v2 name is the Hub's `source_status`).
    pub status: OrderStatus,
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

/// What a retail bill records (v2/v3 bill `type`: 2 export = a sale, 1 import = a return).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillKind {
    /// A sale at the till (type 2).
    Sale,
    /// Goods brought back (type 1).
    Return,
    /// Any other type, as Nhanh sent it.
    Other(i64),
}

/// An in-store retail bill (R14).
#[derive(Debug, Clone, PartialEq)]
pub struct Bill {
    /// Nhanh's bill id (its own id space, apart from orders).
    pub id: NhanhId,
    /// Sale or return.
    pub kind: BillKind,
    /// The order this bill moves stock for, when it belongs to one (that order syncs itself).
    pub order_id: Option<NhanhId>,
    /// For a return: the sale bill it returns, when Nhanh names it.
    pub sale_id: Option<NhanhId>,
    /// The customer on the bill.
    pub customer: OrderCustomer,
    /// Lines (a line's `discount` is the whole line's).
    pub items: Vec<OrderLine>,
    /// Bill-level discount in VND.
    pub discount: i64,
    /// Money value of points used, in VND.
    pub used_points_money: i64,
    /// Note.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Option<OffsetDateTime>,
}
