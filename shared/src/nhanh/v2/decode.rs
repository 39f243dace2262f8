//! Decoding of v2 answers into version-neutral records. Field names follow nhanh-api-v2.md; where
//! the doc lists alternatives (`id`/`idNhanh`/`productId`, `statusCode`/`status`, keyed or array
//! collections, top-level or `data.*` token fields) every one is accepted.

use super::wire;
use crate::domain::{ApiVersion, BusinessId, NhanhId};
use crate::lenient::record;
use crate::nhanh::lenient::{collection, id, int, text};
use crate::nhanh::timefmt;
use crate::nhanh::{
    Category, Customer, NhanhError, Order, OrderCustomer, OrderLine, Page, Permission, Product, TokenGrant,
};
use crate::secrets::SecretString;
use serde_json::Value;
use time::OffsetDateTime;

pub use crate::nhanh::envelope::{envelope, messages};

/// The token exchange answer: fields at the top level (official) or under `data` (SDK docs).
pub fn token_grant(body: &Value, now: OffsetDateTime, api_version: ApiVersion) -> Result<TokenGrant, NhanhError> {
    envelope(body, super::TOKEN_PATH)?;
    let field = |name: &str| {
        let top = &body[name];
        if top.is_null() {
            &body["data"][name]
        } else {
            top
        }
    };
    let access_token = text(field("accessToken")).ok_or_else(|| NhanhError::Malformed("no accessToken".into()))?;
    let business_id = int(field("businessId"))
        .and_then(|n| u64::try_from(n).ok())
        .and_then(BusinessId::new)
        .ok_or_else(|| NhanhError::Malformed("no businessId".into()))?;
    let expires_at = int(field("expiredAt"))
        .and_then(timefmt::from_unix)
        .or_else(|| text(field("expiredDateTime")).and_then(|s| timefmt::parse(&s)))
        .or_else(|| int(field("expiresIn")).and_then(|s| now.checked_add(time::Duration::seconds(s))))
        // Documented lifetime when the answer omits it.
        .unwrap_or(now + time::Duration::days(365));
    let depot_ids =
        collection(field("depotIds")).into_iter().filter_map(int).filter_map(|n| u64::try_from(n).ok()).collect();
    let permissions = match field("permissions") {
        Value::Array(items) => items.iter().cloned().map(Permission::of_grant).collect(),
        Value::Object(map) => map.values().cloned().map(Permission::of_grant).collect(),
        _ => Vec::new(),
    };
    Ok(TokenGrant {
        access_token: SecretString::new(access_token),
        business_id,
        expires_at,
        depot_ids,
        permissions,
        api_version,
    })
}

/// One page of a keyed collection under `data[key]`, decoded with `item`; the caller sets `next`.
pub fn page<T>(data: &Value, key: &str, item: fn(&Value) -> Option<T>) -> Page<T> {
    let items = collection(&data[key]).into_iter().filter_map(item).collect();
    let total_pages = int(&data["totalPages"]).and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Page { items, next: None, total_pages: Some(total_pages), truncated: false }
}

/// A product from search, detail or a product webhook.
pub fn product(v: &Value) -> Option<Product> {
    let w: wire::Product = record(v)?;
    Some(Product {
        id: w.id_nhanh.or(w.product_id).or(w.id)?,
        parent_id: w.parent_id,
        category_id: w.category_id,
        code: w.code,
        barcode: w.barcode,
        name: w.name.unwrap_or_default(),
        price: w.price,
        status: w.status.map(|s| crate::nhanh::ProductStatus::from_name(&s)),
        image: w.image,
        created_at: w.created_date_time.and_then(|s| timefmt::parse(&s)),
    })
}

/// `product/detail`: the product and its children keyed by id, a list, or the product itself.
pub fn product_detail(data: &Value) -> Vec<Product> {
    if data.get("idNhanh").is_some() || data.get("name").is_some() {
        return product(data).into_iter().collect();
    }
    collection(data).into_iter().filter_map(product).collect()
}

/// The category tree (`childs` recursive; keyed or array at every level).
pub fn categories(data: &Value) -> Vec<Category> {
    collection(data).into_iter().filter_map(record).filter_map(category).collect()
}

fn category(w: wire::Category) -> Option<Category> {
    Some(Category {
        id: w.id?,
        parent_id: w.parent_id,
        code: w.code,
        name: w.name.unwrap_or_default(),
        children: w.childs.into_iter().filter_map(category).collect(),
    })
}

/// A line of an order (`productId`, `productCode`, `productName` first) or of a bill (`id`,
/// `code`, `name` first).
fn line(l: wire::Line, order_first: bool) -> OrderLine {
    let (product_id, code, name) = if order_first {
        (l.product_id.or(l.id), l.product_code.or(l.code), l.product_name.or(l.name))
    } else {
        (l.id.or(l.product_id), l.code.or(l.product_code), l.name.or(l.product_name))
    };
    OrderLine {
        product_id,
        code,
        name,
        quantity: l.quantity.unwrap_or(0.0),
        price: l.price.unwrap_or(0),
        discount: l.discount.unwrap_or(0),
    }
}

/// An order from `order/index` or an `orderAdd` webhook.
pub fn order(v: &Value) -> Option<Order> {
    let w: wire::Order = record(v)?;
    Some(Order {
        id: w.id.or(w.order_id)?,
        shop_order_id: w.shop_order_id.or(w.private_id),
        status: crate::nhanh::OrderStatus::from_name(&w.status_code.or(w.status).unwrap_or_default()),
        sale_channel: w.sale_channel,
        customer: OrderCustomer {
            name: w.customer_name,
            mobile: w.customer_mobile,
            email: w.customer_email,
            address: w.customer_address,
        },
        items: w.products.into_iter().map(|l| line(l, true)).collect(),
        money_discount: w.money_discount.unwrap_or(0),
        money_used_points: w.money_used_points.unwrap_or(0),
        customer_ship_fee: w.customer_ship_fee.unwrap_or(0),
        description: w.description,
        created_at: w.created_date_time.and_then(|s| timefmt::parse(&s)),
        updated_at: w
            .updated_at
            .and_then(timefmt::from_unix)
            .or_else(|| w.updated_date_time.and_then(|s| timefmt::parse(&s))),
    })
}

/// A customer from `customer/search`.
pub fn customer(v: &Value) -> Option<Customer> {
    crate::lenient::record::<crate::nhanh::lenient::CustomerRecord>(v)?.into_customer()
}

/// A retail bill from `bill/search` (nhanh-api-v2.md §3.9). Undocumented in v2 and read when
/// present: `orderId`, `moneyUsedPoints` (points' money; v2 documents only `usedPoints`, a count).
pub fn bill(v: &Value) -> Option<crate::nhanh::Bill> {
    use crate::nhanh::{Bill, BillKind};
    let w: wire::Bill = record(v)?;
    Some(Bill {
        id: w.id?,
        kind: match w.kind {
            Some(2) => BillKind::Sale,
            Some(1) => BillKind::Return,
            other => BillKind::Other(other.unwrap_or(0)),
        },
        order_id: w.order_id,
        sale_id: w.related_bill_id,
        customer: OrderCustomer {
            name: w.customer_name,
            mobile: w.customer_mobile,
            email: None,
            address: w.customer_address,
        },
        items: w.products.into_iter().map(|l| line(l, false)).collect(),
        discount: w.discount.unwrap_or(0),
        used_points_money: w.money_used_points.unwrap_or(0),
        description: w.description,
        created_at: w.created_date_time.and_then(|s| timefmt::parse(&s)),
    })
}

/// Nhanh's id in an `order/add` answer: `data.orderId`, `data.id`, or `data[ourId]` (v1 shape).
pub fn added_order_id(data: &Value, our_id: &str) -> Option<NhanhId> {
    id(&data["orderId"]).or_else(|| id(&data["id"])).or_else(|| id(&data[our_id]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_errors_are_typed() {
        let rl = json!({"code":0,"errorCode":"ERR_429","message":"Your app exceeded the API Rate Limit","data":{"lockedSeconds":10,"unlockedAt":1733387520}});
        match envelope(&rl, "/api/order/index") {
            Err(NhanhError::RateLimited { unlocked_at, path }) => {
                assert_eq!(unlocked_at.unix_timestamp(), 1_733_387_520);
                assert_eq!(path, "/api/order/index");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(envelope(&json!({"code":0,"errorCode":"ERR_403"}), "/p"), Err(NhanhError::Forbidden { .. })));
        assert!(matches!(
            envelope(&json!({"code":"0","errorCode":"ERR_INVALID_ACCESS_TOKEN"}), "/p"),
            Err(NhanhError::InvalidAccessToken)
        ));
        match envelope(&json!({"code":0,"errorCode":"ERR_INVALID_FORM_FIELDS","messages":{"id":"required"}}), "/p") {
            Err(NhanhError::Rejected { code, message }) => {
                assert_eq!(code.as_deref(), Some("ERR_INVALID_FORM_FIELDS"));
                assert_eq!(message, "id: required");
            }
            other => panic!("{other:?}"),
        }
        match envelope(&json!({"code":0,"messages":["a","b"]}), "/p") {
            Err(NhanhError::Rejected { code: None, message }) => assert_eq!(message, "a; b"),
            other => panic!("{other:?}"),
        }
        assert_eq!(envelope(&json!({"code":"1","data":{"x":1}}), "/p").unwrap(), json!({"x":1}));
    }

    #[test]
    fn token_grant_top_level_and_data_fallback() {
        let now = OffsetDateTime::now_utc();
        let top = json!({"code":1,"accessToken":"t".repeat(130),"expiredDateTime":"2027-11-28 10:00:00","expiredAt":1827370800,"businessId":"12345","depotIds":[],"permissions":["orders"]});
        let g = token_grant(&top, now, ApiVersion::V2).unwrap();
        assert_eq!(g.business_id.get(), 12345);
        assert_eq!(g.expires_at.unix_timestamp(), 1_827_370_800);
        assert_eq!(g.permissions, vec![Permission::of_grant(json!("orders"))]);
        let sdk = json!({"code":1,"data":{"accessToken":"abc","businessId":7,"expiresIn":2592000}});
        let g = token_grant(&sdk, now, ApiVersion::V2).unwrap();
        assert_eq!(g.business_id.get(), 7);
        assert_eq!(g.expires_at, now + time::Duration::seconds(2_592_000));
        assert!(token_grant(&json!({"code":0,"messages":["accessCode expired"]}), now, ApiVersion::V2).is_err());
        assert!(matches!(token_grant(&json!({"code":1}), now, ApiVersion::V2), Err(NhanhError::Malformed(_))));
    }

    #[test]
    fn product_page_keyed_with_string_numbers() {
        let data = json!({"totalPages":"3","currentPage":1,"products":{
            "456":{"idNhanh":"456","parentId":"","categoryId":"12","code":"SP1","barcode":"893","name":"Áo","price":"250000","status":"Active","createdDateTime":"2026-11-01 08:00:00"},
            "457":{"idNhanh":457,"parentId":456,"name":"Áo L","price":260000.0}
        }});
        let p = page(&data, "products", product);
        assert_eq!(p.total_pages, Some(3));
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].price, Some(250_000));
        assert_eq!(p.items[0].parent_id, None);
        assert_eq!(p.items[1].parent_id.map(NhanhId::get), Some(456));
        let empty = page(&json!({"totalPages":0,"products":[]}), "products", product);
        assert!(empty.items.is_empty());
    }

    #[test]
    fn category_tree() {
        let data = json!([{"id":"1","parentId":null,"code":"A","name":"Áo","childs":[{"id":2,"parentId":"1","name":"Áo thun","childs":[]}]}]);
        let tree = categories(&data);
        assert_eq!(tree[0].children[0].id.get(), 2);
        assert_eq!(tree[0].children[0].parent_id.map(NhanhId::get), Some(1));
    }

    #[test]
    fn orders_from_index_and_webhook() {
        let index = json!({"id":"10231341","shopOrderId":"h-9","statusCode":"Success","saleChannel":"2","customerName":"Lan","customerMobile":"0912345678",
            "moneyDiscount":"10000","moneyUsedPoints":"0","customerShipFee":"30000","createdDateTime":"2026-11-28 09:00:00",
            "products":[{"productId":"456","productName":"Áo","productCode":"SP1","price":"250000","quantity":"2","discount":"5000"}]});
        let o = order(&index).unwrap();
        assert_eq!(o.id.get(), 10_231_341);
        assert_eq!(o.status, crate::nhanh::OrderStatus::Success);
        assert_eq!(o.items[0].quantity, 2.0);
        assert_eq!(o.items[0].discount, 5000);
        let hook = json!({"orderId":99,"status":"New","products":[{"id":"456","quantity":1,"price":100}]});
        let o = order(&hook).unwrap();
        assert_eq!((o.id.get(), o.status.name(), o.items[0].product_id.map(NhanhId::get)), (99, "New", Some(456)));
        assert!(order(&json!({"status":"New"})).is_none());
    }

    #[test]
    fn added_order_shapes() {
        assert_eq!(added_order_id(&json!({"orderId":"77"}), "h1").map(NhanhId::get), Some(77));
        assert_eq!(added_order_id(&json!({"h1":78,"shipFee":0}), "h1").map(NhanhId::get), Some(78));
        assert_eq!(added_order_id(&json!(null), "h1"), None);
    }
}
