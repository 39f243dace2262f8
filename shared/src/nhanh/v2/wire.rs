//! The v2 answers' records as wire structs (nhanh-api-v2.md §3): each field named once, in
//! Nhanh's spelling, read leniently ([`crate::lenient::de`]); where the doc lists alternatives
//! (`idNhanh`/`productId`/`id`, `statusCode`/`status`) each is its own field and the decoder
//! takes the first present (a serde alias would refuse a record that carries two of them).

use crate::domain::NhanhId;
use crate::lenient::de::{float, int, list, text};
use crate::nhanh::lenient::de_id as id;
use serde::Deserialize;

/// A product of `product/search`, `product/detail` or a product webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Product {
    #[serde(deserialize_with = "id")]
    pub id_nhanh: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub product_id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub parent_id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub category_id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub barcode: Option<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "int")]
    pub price: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub status: Option<String>,
    #[serde(deserialize_with = "text")]
    pub image: Option<String>,
    #[serde(deserialize_with = "text")]
    pub created_date_time: Option<String>,
}

/// A category of the tree (`childs` recursive; keyed or array at every level).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Category {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub parent_id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "list")]
    pub childs: Vec<Category>,
}

/// An order of `order/index` or an order webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Order {
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub order_id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub shop_order_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub private_id: Option<String>,
    #[serde(deserialize_with = "text")]
    pub status_code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub status: Option<String>,
    #[serde(deserialize_with = "int")]
    pub sale_channel: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub customer_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub customer_mobile: Option<String>,
    #[serde(deserialize_with = "text")]
    pub customer_email: Option<String>,
    #[serde(deserialize_with = "text")]
    pub customer_address: Option<String>,
    #[serde(deserialize_with = "list")]
    pub products: Vec<Line>,
    #[serde(deserialize_with = "int")]
    pub money_discount: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub money_used_points: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub customer_ship_fee: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub description: Option<String>,
    #[serde(deserialize_with = "text")]
    pub created_date_time: Option<String>,
    #[serde(deserialize_with = "int")]
    pub updated_at: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub updated_date_time: Option<String>,
}

/// A line of an order or a bill.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Line {
    #[serde(deserialize_with = "id")]
    pub product_id: Option<NhanhId>,
    #[serde(deserialize_with = "id")]
    pub id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub product_code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub code: Option<String>,
    #[serde(deserialize_with = "text")]
    pub product_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub name: Option<String>,
    #[serde(deserialize_with = "float")]
    pub quantity: Option<f64>,
    #[serde(deserialize_with = "int")]
    pub price: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub discount: Option<i64>,
}

/// A retail bill of `bill/search` (§3.9).
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
    #[serde(deserialize_with = "id")]
    pub related_bill_id: Option<NhanhId>,
    #[serde(deserialize_with = "text")]
    pub customer_name: Option<String>,
    #[serde(deserialize_with = "text")]
    pub customer_mobile: Option<String>,
    #[serde(deserialize_with = "text")]
    pub customer_address: Option<String>,
    #[serde(deserialize_with = "list")]
    pub products: Vec<Line>,
    #[serde(deserialize_with = "int")]
    pub discount: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub money_used_points: Option<i64>,
    #[serde(deserialize_with = "text")]
    pub description: Option<String>,
    #[serde(deserialize_with = "text")]
    pub created_date_time: Option<String>,
}
