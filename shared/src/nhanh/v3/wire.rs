//! The v3 answers' records as wire structs (nhanh-api-v3.md §3, §4): each field named once, in
//! Nhanh's spelling, and read leniently ([`crate::lenient::de`]: ids and money as numbers or
//! numeric text, money as int or float, a field of an unexpected type as absent), so one odd
//! field never loses the record. The decoders (`decode.rs`) turn them into neutral records.

use crate::domain::NhanhId;
use crate::lenient::de::{amount, float, int, list, object, raw, text};
use crate::nhanh::lenient::de_id as id;
use serde::Deserialize;
use serde_json::Value;

/// `{id}`: a reference (`category{id}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Ref {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
}

/// `{amount}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Amount {
    #[serde(deserialize_with = "int")]
    pub amount: Option<i64>,
}

/// A product of `product/list`, `product/detail` or a product webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Product {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub parent_id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub category_id: Option<NhanhId>,
    #[serde(deserialize_with = "object")]
    pub category: Ref,
    #[serde(deserialize_with = "object")]
    pub prices: Prices,
    #[serde(deserialize_with = "int")]
    pub price: Option<i64>,
    #[serde(deserialize_with = "object")]
    pub images: Images,
    #[serde(deserialize_with = "text")]
    pub image: Option<String>,
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub barcode: Option<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "int")]
    pub status: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub created_at: Option<i64>,
}

/// `prices{retail}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Prices {
    #[serde(deserialize_with = "int")]
    pub retail: Option<i64>,
}

/// `images{avatar}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Images {
    #[serde(deserialize_with = "text")]
    pub avatar: Option<String>,
}

/// A `product/category` item (flat, with `parentId`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct CategoryItem {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub parent_id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
}

/// An `order/list` item: `{info, channel, shippingAddress, products, carrier, payment}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Order {
    #[serde(deserialize_with = "object")]
    pub info: OrderInfo,
    #[serde(deserialize_with = "object")]
    pub channel: Channel,
    #[serde(deserialize_with = "object")]
    pub shipping_address: Address,
    #[serde(deserialize_with = "list")]
    pub products: Vec<OrderLine>,
    #[serde(deserialize_with = "object")]
    pub carrier: Carrier,
    #[serde(deserialize_with = "object")]
    pub payment: Payment,
}

/// `info`: the order itself.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct OrderInfo {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    /// An integer status, or a v2-shaped name: the decoder reads both.
    #[serde(deserialize_with = "raw")]
    pub status: Value,
    #[serde(deserialize_with = "text")]
    pub description: Option<String>,
    #[serde(deserialize_with = "int")]
    pub created_at: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub updated_at: Option<i64>,
}

/// `channel{appOrderId, saleChannel}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Channel {
    #[serde(deserialize_with = "text")]
    pub app_order_id: Option<String>,
    #[serde(deserialize_with = "int")]
    pub sale_channel: Option<i64>,
}

/// `shippingAddress` (an order) or `customer` (a bill).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Address {
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub mobile: Option<String>,
    #[serde(deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(deserialize_with = "text")]
    pub address: Option<String>,
}

/// One line of an order or a bill.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct OrderLine {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub product_id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "float")]
    pub quantity: Option<f64>,
    #[serde(deserialize_with = "int")]
    pub price: Option<i64>,
    #[serde(rename = "priceAfterVAT", deserialize_with = "int")]
    pub price_after_vat: Option<i64>,
    /// Per unit.
    #[serde(deserialize_with = "float")]
    pub discount: Option<f64>,
    /// The whole line's (orders).
    #[serde(deserialize_with = "int")]
    pub discount_amount: Option<i64>,
    /// The line's total (orders).
    #[serde(deserialize_with = "int")]
    pub total_amount: Option<i64>,
    /// What the line costs after its discount (bills).
    #[serde(deserialize_with = "int")]
    pub amount: Option<i64>,
}

/// `carrier{customerShipFee}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Carrier {
    #[serde(deserialize_with = "int")]
    pub customer_ship_fee: Option<i64>,
}

/// `payment{discount, usedPoints{amount}}`; the discount a number or `{amount}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Payment {
    #[serde(deserialize_with = "amount")]
    pub discount: Option<i64>,
    #[serde(deserialize_with = "object")]
    pub used_points: Amount,
}

/// A `bill/retail` item (§3.10).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Bill {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    /// 2 a sale, 1 a return.
    #[serde(rename = "type", deserialize_with = "int")]
    pub kind: Option<i64>,
    #[serde(deserialize_with = "id")]
    pub order_id: Option<NhanhId>,
    #[serde(deserialize_with = "object")]
    pub related: Related,
    #[serde(deserialize_with = "object")]
    pub customer: Address,
    #[serde(deserialize_with = "list")]
    pub products: Vec<OrderLine>,
    #[serde(deserialize_with = "object")]
    pub payment: Payment,
    #[serde(deserialize_with = "text")]
    pub description: Option<String>,
    #[serde(deserialize_with = "int")]
    pub created_at: Option<i64>,
}

/// `related{billId, parentId}`: the sale a return names [?].
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Related {
    #[serde(deserialize_with = "id")]
    pub bill_id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub parent_id: Option<NhanhId>,
}
