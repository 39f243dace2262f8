//! Records of the Hub contract, in its JSON names.

use crate::domain::{AccountId, HubId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// `GET /sessions/current.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HubSession {
    /// The account the session belongs to.
    #[serde(deserialize_with = "de_account")]
    pub account_id: AccountId,
    /// The user.
    #[serde(deserialize_with = "de_any_text")]
    pub user_id: String,
    /// `admin` or `staff`.
    pub role: String,
    /// When the session ends.
    #[serde(default, with = "crate::clock::utc_rfc3339_option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl HubSession {
    /// Whether this session may connect or disconnect `account` (R2).
    pub fn is_admin_of(&self, account: &AccountId) -> bool {
        self.role == "admin" && &self.account_id == account
    }
}

fn de_any_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("expected text or number")),
    }
}

fn de_account<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AccountId, D::Error> {
    AccountId::parse(&de_any_text(d)?).map_err(serde::de::Error::custom)
}

/// Reads a Hub id given as text or number.
pub fn de_hub_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<HubId, D::Error> {
    HubId::parse(&de_any_text(d)?).map_err(serde::de::Error::custom)
}

fn de_opt_hub_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<HubId>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => HubId::parse(&s).ok(),
        serde_json::Value::Number(n) => HubId::parse(&n.to_string()).ok(),
        _ => None,
    })
}

/// Body of a product group create/update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductGroupInput {
    /// Name.
    pub name: String,
    /// Code.
    pub code: Option<String>,
    /// Parent group (Hub id).
    pub parent_id: Option<HubId>,
}

/// Body of a product create/update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductInput {
    /// Name.
    pub name: String,
    /// SKU.
    pub code: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Price in VND.
    pub price: Option<i64>,
    /// `active` or `inactive`.
    pub status: String,
    /// Group (Hub id).
    pub group_id: Option<HubId>,
    /// Parent product for a variant (Hub id).
    pub parent_id: Option<HubId>,
    /// Image URL.
    pub image: Option<String>,
}

/// Body of a customer create/update; `None` fields are left out (on update they stay as they are).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerInput {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Normalised phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `male` or `female`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// Free-text address (R7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A customer as the Hub returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubCustomer {
    /// Hub id.
    #[serde(deserialize_with = "de_hub_id")]
    pub id: HubId,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Gender.
    #[serde(default)]
    pub gender: Option<String>,
    /// Birthday.
    #[serde(default)]
    pub birthday: Option<String>,
    /// Free-text address.
    #[serde(default)]
    pub address: Option<String>,
    /// `hub` or `nhanh`.
    #[serde(default)]
    pub origin: Option<String>,
    /// When created.
    #[serde(default, with = "crate::clock::utc_rfc3339_option")]
    pub created_at: Option<OffsetDateTime>,
}

/// The customer summary carried on an order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderCustomerRef {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Free-text address (on Hub-created orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Hub product id.
    #[serde(default, deserialize_with = "de_opt_hub_id")]
    pub product_id: Option<HubId>,
    /// SKU.
    #[serde(default)]
    pub code: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Quantity.
    pub quantity: f64,
    /// Unit price in VND.
    pub price: i64,
    /// Line discount in VND.
    #[serde(default)]
    pub discount: i64,
}

/// The full order snapshot sent on every create and update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    /// The Nhanh order id as text.
    pub code: String,
    /// The Hub status.
    pub status: String,
    /// Nhanh's own status text.
    pub source_status: String,
    /// Sale channel as text.
    pub sale_channel: Option<String>,
    /// Hub customer.
    pub customer_id: Option<HubId>,
    /// Customer name and phone.
    pub customer: OrderCustomerRef,
    /// Lines.
    pub items: Vec<OrderItem>,
    /// Σ price × quantity.
    pub subtotal: i64,
    /// Line discounts + order discount.
    pub discount: i64,
    /// Fee charged to the customer.
    pub shipping_fee: i64,
    /// What the customer pays.
    pub total: i64,
    /// Note.
    pub note: Option<String>,
    /// Created (RFC 3339).
    #[serde(with = "crate::clock::utc_rfc3339_option")]
    pub created_at: Option<OffsetDateTime>,
    /// Updated (RFC 3339).
    #[serde(with = "crate::clock::utc_rfc3339_option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Deleted in Nhanh.
    pub deleted: bool,
    /// A retail return: the code of the sale's Hub order (`HD…`) when Nhanh names the sale and
    /// the Hub holds it; null otherwise (and on every other order).
    #[serde(default)]
    pub return_of: Option<String>,
}

/// An order created in the Hub (`origin=hub` listing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubOrder {
    /// Hub id.
    #[serde(deserialize_with = "de_hub_id")]
    pub id: HubId,
    /// Code.
    #[serde(default)]
    pub code: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<String>,
    /// Customer.
    #[serde(default)]
    pub customer: OrderCustomerRef,
    /// Lines.
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// Total.
    #[serde(default)]
    pub total: Option<i64>,
    /// Note.
    #[serde(default)]
    pub note: Option<String>,
    /// Created.
    #[serde(default, with = "crate::clock::utc_rfc3339_option")]
    pub created_at: Option<OffsetDateTime>,
}

/// One page of a Hub listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage<T> {
    /// Records.
    pub items: Vec<T>,
    /// Whether another page follows.
    pub has_more: bool,
}
