//! Decoding of v3 answers into version-neutral records (nhanh-api-v3.md §1.4, §2.3, §3, §4).
//! Lenient throughout: ids and money as numbers or numeric text, money as int or float (rounded
//! to whole VND), "no parent/category" as null, absent, 0 or negative.

use super::wire;
use crate::domain::{ApiVersion, BusinessId, NhanhId};
use crate::nhanh::lenient::{id, int, text};
use crate::nhanh::{
    timefmt, Category, Customer, NhanhError, Order, OrderCustomer, OrderLine, OrderStatus, Page, PageToken, Permission,
    Product, ProductStatus, TokenGrant,
};
use crate::secrets::SecretString;
use serde_json::Value;
use time::OffsetDateTime;

/// The token exchange answer: `data{accessToken, version, expiredAt, businessId, depotIds, …}`.
/// `depotIds` is `[]`, `[ids]` or `"All"` (all depots, stored as empty); `permissions` are kept
/// as given (their names are documented nowhere).
pub fn token_grant(data: &Value, now: OffsetDateTime) -> Result<TokenGrant, NhanhError> {
    let access_token = text(&data["accessToken"]).ok_or_else(|| NhanhError::Malformed("no data.accessToken".into()))?;
    let business_id = int(&data["businessId"])
        .and_then(|n| u64::try_from(n).ok())
        .and_then(BusinessId::new)
        .ok_or_else(|| NhanhError::Malformed("no data.businessId".into()))?;
    let expires_at = int(&data["expiredAt"]).and_then(timefmt::from_unix).unwrap_or(now + time::Duration::days(365));
    if let Some(v) = text(&data["version"]).filter(|v| v != "3.0") {
        tracing::warn!(version = v.as_str(), "token exchange answered another version than 3.0");
    }
    let depot_ids = match &data["depotIds"] {
        Value::Array(items) => items.iter().filter_map(int).filter_map(|n| u64::try_from(n).ok()).collect(),
        Value::String(s) if s.eq_ignore_ascii_case("all") => Vec::new(),
        Value::Null => Vec::new(),
        other => {
            tracing::warn!(depot_ids = %other, "unexpected depotIds shape; all depots assumed");
            Vec::new()
        }
    };
    let permissions = match &data["permissions"] {
        Value::Array(items) => items.iter().cloned().map(Permission::of_grant).collect(),
        Value::Null => Vec::new(),
        other => vec![Permission::of_grant(other.clone())],
    };
    Ok(TokenGrant {
        access_token: SecretString::new(access_token),
        business_id,
        expires_at,
        depot_ids,
        permissions,
        api_version: ApiVersion::V3,
    })
}

/// What a `paginator.next` means: more (present, not null, not `""`, `{}` or `[]`), the end, or
/// the value just sent again (a loop guard, logged: the listing ends there, cut short).
fn next_page(next: &Value, sent: Option<&Value>) -> (Option<PageToken>, bool) {
    let empty = match next {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if !empty && sent == Some(next) {
        tracing::warn!(next = %next, "Nhanh answered the same paginator.next again; the listing ends here, cut short");
        return (None, true);
    }
    ((!empty).then(|| PageToken(next.to_string())), false)
}

/// One page: `data` is an array of items; `paginator.next` is echoed exactly as the next token.
pub fn page<T>(body: &Value, sent: Option<&Value>, item: fn(&Value) -> Option<T>) -> Page<T> {
    let data = &body["data"];
    let items = match data {
        Value::Array(list) => list.iter().filter_map(item).collect(),
        Value::Object(map) => map.values().filter_map(item).collect(),
        _ => Vec::new(),
    };
    let (next, truncated) = next_page(&body["paginator"]["next"], sent);
    Page { items, next, total_pages: None, truncated }
}

/// The v3 product status int → the neutral status (§4.4).
fn product_status(n: i64) -> ProductStatus {
    match n {
        1 => ProductStatus::New,
        2 => ProductStatus::Active,
        3 => ProductStatus::Inactive,
        4 => ProductStatus::OutOfStock,
        other => ProductStatus::Other(other.to_string()),
    }
}

/// A product of `product/list` (also the `product/detail` / webhook shape: `category{id}`).
pub fn product(v: &Value) -> Option<Product> {
    let w: wire::Product = crate::lenient::record(v)?;
    Some(Product {
        id: w.id?,
        parent_id: w.parent_id,
        category_id: w.category_id.or(w.category.id),
        code: w.code,
        barcode: w.barcode,
        name: w.name.unwrap_or_default(),
        price: w.prices.retail.or(w.price),
        status: w.status.map(product_status),
        image: w.images.avatar.or(w.image),
        created_at: w.created_at.and_then(timefmt::from_unix),
    })
}

/// `product/category` items (flat, with `parentId`) rebuilt into the tree; a parent that is none
/// or not in the list makes a root (logged).
pub fn category_tree(items: &[Value]) -> Vec<Category> {
    let flat: Vec<(Category, Option<NhanhId>)> = items
        .iter()
        .filter_map(crate::lenient::record::<wire::CategoryItem>)
        .filter_map(|w| {
            let category = Category {
                id: w.id?,
                parent_id: None,
                code: w.code,
                name: w.name.unwrap_or_default(),
                children: vec![],
            };
            Some((category, w.parent_id))
        })
        .collect();
    let known: std::collections::HashSet<NhanhId> = flat.iter().map(|(c, _)| c.id).collect();
    fn attach(parent: NhanhId, pool: &[(Category, Option<NhanhId>)], depth: usize) -> Vec<Category> {
        if depth > 32 {
            return Vec::new();
        }
        pool.iter()
            .filter(|(c, p)| *p == Some(parent) && c.id != parent)
            .map(|(c, p)| Category { parent_id: *p, children: attach(c.id, pool, depth + 1), ..c.clone() })
            .collect()
    }
    flat.iter()
        .filter(|(c, p)| match p {
            Some(p) if known.contains(p) && *p != c.id => false,
            Some(p) => {
                tracing::info!(category = c.id.get(), parent = p.get(), "category parent not in the list; made a root");
                true
            }
            None => true,
        })
        .map(|(c, _)| Category { parent_id: None, children: attach(c.id, &flat, 0), ..c.clone() })
        .collect()
}

/// The v3 order status int → the neutral status (§4.1); an unknown int is kept as its text.
pub fn order_status(v: &Value) -> OrderStatus {
    let Some(n) = int(v) else {
        // A name (a v2-shaped payload) or nothing.
        return OrderStatus::from_name(&text(v).unwrap_or_default());
    };
    match n {
        54 => OrderStatus::New,
        55 => OrderStatus::Confirming,
        57 => OrderStatus::CustomerConfirming,
        56 => OrderStatus::Confirmed,
        42 => OrderStatus::Packing,
        40 => OrderStatus::Packed,
        73 => OrderStatus::ChangeDepot,
        43 => OrderStatus::Pickup,
        59 => OrderStatus::Shipping,
        60 => OrderStatus::Success,
        61 => OrderStatus::Failed,
        63 => OrderStatus::Canceled,
        64 => OrderStatus::Aborted,
        58 => OrderStatus::CarrierCanceled,
        68 => OrderStatus::SoldOut,
        71 => OrderStatus::Returning,
        72 => OrderStatus::Returned,
        74 => OrderStatus::ConfirmReturned,
        other => {
            tracing::info!(status = other, "unknown v3 order status; kept as its number");
            OrderStatus::Other(other.to_string())
        }
    }
}

/// One line of an `order/list` item. Price: `priceAfterVAT` when present, else `price` (which
/// excludes VAT); the line's discount: `discountAmount`, else the per-unit `discount` × quantity
/// (§9 #14). A disagreement with `totalAmount` is logged.
fn order_line(l: wire::OrderLine) -> OrderLine {
    let quantity = l.quantity.unwrap_or(0.0);
    let price = l.price_after_vat.or(l.price).unwrap_or(0);
    let discount = l.discount_amount.or_else(|| l.discount.map(|d| (d * quantity).round() as i64)).unwrap_or(0);
    if let Some(total) = l.total_amount {
        let ours = (price as f64 * quantity).round() as i64 - discount;
        if (total - ours).abs() > 1 {
            tracing::info!(
                line_total = total,
                computed = ours,
                "order line total differs from price × quantity − discount"
            );
        }
    }
    OrderLine { product_id: l.product_id.or(l.id), code: l.code, name: l.name, quantity, price, discount }
}

/// An `order/list` item (`{info, channel, shippingAddress, products, carrier, payment}`).
pub fn order(v: &Value) -> Option<Order> {
    let w: wire::Order = crate::lenient::record(v)?;
    let address = w.shipping_address;
    Some(Order {
        id: w.info.id?,
        shop_order_id: w.channel.app_order_id,
        status: order_status(&w.info.status),
        sale_channel: w.channel.sale_channel,
        customer: OrderCustomer {
            name: address.name,
            mobile: address.mobile,
            email: address.email,
            address: address.address,
        },
        items: w.products.into_iter().map(order_line).collect(),
        money_discount: w.payment.discount.unwrap_or(0),
        money_used_points: w.payment.used_points.amount.unwrap_or(0),
        customer_ship_fee: w.carrier.customer_ship_fee.unwrap_or(0),
        description: w.info.description,
        created_at: w.info.created_at.and_then(timefmt::from_unix),
        updated_at: w.info.updated_at.and_then(timefmt::from_unix),
    })
}

/// A `bill/retail` item (§3.10). Undocumented parts [?]: the sale a return names is read from
/// `related.billId`, else `related.parentId`; a line's discount is the whole line's, taken from
/// `price × quantity − amount` when `amount` is sent, else from `discount` × quantity; the bill
/// discount is `payment.discount` (a number or `{amount}`), the points' money
/// `payment.usedPoints.amount`.
pub fn bill(v: &Value) -> Option<crate::nhanh::Bill> {
    use crate::nhanh::{Bill, BillKind};
    let w: wire::Bill = crate::lenient::record(v)?;
    let items = w
        .products
        .into_iter()
        .map(|l| {
            let quantity = l.quantity.unwrap_or(0.0);
            let price = l.price.unwrap_or(0);
            let gross = (price as f64 * quantity).round() as i64;
            let discount = l
                .amount
                .map(|amount| (gross - amount).max(0))
                .or_else(|| l.discount.map(|d| (d * quantity).round() as i64))
                .unwrap_or(0);
            OrderLine { product_id: l.id.or(l.product_id), code: l.code, name: l.name, quantity, price, discount }
        })
        .collect();
    Some(Bill {
        id: w.id?,
        kind: match w.kind {
            Some(2) => BillKind::Sale,
            Some(1) => BillKind::Return,
            other => BillKind::Other(other.unwrap_or(0)),
        },
        order_id: w.order_id,
        sale_id: w.related.bill_id.or(w.related.parent_id),
        customer: OrderCustomer {
            name: w.customer.name,
            mobile: w.customer.mobile,
            email: None,
            address: w.customer.address,
        },
        items,
        discount: w.payment.discount.unwrap_or(0),
        used_points_money: w.payment.used_points.amount.unwrap_or(0),
        description: w.description,
        created_at: w.created_at.and_then(timefmt::from_unix),
    })
}

/// A `customer/list` item.
pub fn customer(v: &Value) -> Option<Customer> {
    crate::lenient::record::<crate::nhanh::lenient::CustomerRecord>(v)?.into_customer()
}

/// Nhanh's id in an `order/add` answer: `data.id`, else `data.orderId`, else a one-element list.
pub fn added_order_id(data: &Value) -> Option<NhanhId> {
    id(&data["id"])
        .or_else(|| id(&data["orderId"]))
        .or_else(|| data.as_array().filter(|l| l.len() == 1).and_then(|l| id(&l[0]).or_else(|| id(&l[0]["id"]))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_grant_reads_data_and_every_depot_shape() {
        let now = OffsetDateTime::now_utc();
        for (depots, want) in
            [(json!("All"), vec![]), (json!([]), vec![]), (json!([31010, "31011"]), vec![31010, 31011])]
        {
            let data = json!({"accessToken": "x".repeat(128), "version": "3.0", "expiredAt": 1785603599, "businessId": 110668, "depotIds": depots, "permissions": []});
            let g = token_grant(&data, now).unwrap();
            assert_eq!(
                (g.business_id.get(), g.expires_at.unix_timestamp(), g.depot_ids, g.api_version),
                (110668, 1785603599, want, ApiVersion::V3)
            );
        }
        assert!(token_grant(&json!({"businessId": 1}), now).is_err());
    }

    #[test]
    fn pages_echo_next_and_end_on_missing_null_empty_or_repeated() {
        let body = json!({"code": 1, "paginator": {"next": {"id": "92220"}}, "data": [{"id": 1, "name": "A"}]});
        let p = page(&body, None, product);
        assert_eq!((p.items.len(), p.next.as_ref().map(PageToken::as_str)), (1, Some(r#"{"id":"92220"}"#)));
        for next in [json!(null), json!(""), json!({}), json!([])] {
            assert_eq!(page(&json!({"data": [], "paginator": {"next": next}}), None, product).next, None, "{next}");
        }
        assert_eq!(page(&json!({"data": []}), None, product).next, None);
        let sent = json!({"id": 100});
        assert_eq!(
            page(&json!({"data": [], "paginator": {"next": {"id": 100}}}), Some(&sent), product).next,
            None,
            "loop guard"
        );
        assert!(page(&json!({"data": [], "paginator": {"next": {"id": 100}}}), Some(&sent), product).truncated);
        assert!(!page(&json!({"data": [], "paginator": {"next": null}}), Some(&sent), product).truncated);
    }

    #[test]
    fn list_items_map_to_neutral_records() {
        let p = product(
            &json!({"id": 1231281071, "parentId": 0, "categoryId": 12, "code": "SP1", "name": "Áo", "status": 3,
            "prices": {"retail": 189000.4}, "images": {"avatar": "https://x/a.jpg"}, "createdAt": 1759450000}),
        )
        .unwrap();
        assert_eq!(
            (p.parent_id, p.category_id.map(NhanhId::get), p.price, p.status),
            (None, Some(12), Some(189000), Some(ProductStatus::Inactive))
        );
        let o = order(&json!({"info": {"id": 14903497, "status": 74, "createdAt": 1759421000, "updatedAt": 1759421500, "description": "x"},
            "channel": {"appOrderId": "h-1", "saleChannel": 10}, "shippingAddress": {"name": "Cường", "mobile": "0928937476", "address": "170 La Thành"},
            "products": [{"productId": 5, "quantity": 2, "price": 189000, "discount": 4500, "totalAmount": 369000},
                         {"productId": 6, "quantity": 1, "price": 100, "priceAfterVAT": 110, "discountAmount": 10}],
            "carrier": {"customerShipFee": "30000"}, "payment": {"discount": {"amount": 5000}, "usedPoints": {"amount": 2000}}})).unwrap();
        assert_eq!(
            (o.status.name(), o.shop_order_id.as_deref(), o.customer_ship_fee, o.money_discount, o.money_used_points),
            ("ConfirmReturned", Some("h-1"), 30000, 5000, 2000)
        );
        assert_eq!((o.items[0].discount, o.items[1].price, o.items[1].discount), (9000, 110, 10));
        assert_eq!(order_status(&json!(99)), OrderStatus::Other("99".into()));
        assert_eq!(order_status(&json!(60)).name(), "Success");
    }

    /// Issue 25: the wire structs read each field leniently, so one field of an unexpected
    /// shape never loses the record; only a record without its id is left out.
    #[test]
    fn a_field_of_an_unexpected_shape_reads_as_absent_and_keeps_the_record() {
        let p = product(&json!({"id": "77", "name": "Mũ", "prices": [], "price": "1000", "images": "x", "category": 5,
            "status": {"x": 1}, "createdAt": "soon"}))
        .unwrap();
        assert_eq!(
            (p.id.get(), p.price, p.image, p.category_id, p.status, p.created_at),
            (77, Some(1000), None, None, None, None)
        );
        let o = order(&json!({"info": {"id": 5, "status": "Confirmed"}, "payment": null, "carrier": [], "channel": "web",
            "products": {"1": {"productId": "9", "quantity": "2", "price": "500"}}, "shippingAddress": {"mobile": 912345678}}))
        .unwrap();
        assert_eq!((o.status.name(), o.money_discount, o.customer_ship_fee, o.items.len()), ("Confirmed", 0, 0, 1));
        assert_eq!(
            (o.items[0].quantity, o.items[0].price, o.customer.mobile.as_deref()),
            (2.0, 500, Some("912345678"))
        );
        let b = bill(&json!({"id": 3, "type": "2", "payment": {"discount": "700", "usedPoints": {"amount": "100"}}}))
            .unwrap();
        assert_eq!((b.discount, b.used_points_money), (700, 100));
        assert!(product(&json!({"name": "no id"})).is_none() && order(&json!([1])).is_none());
    }

    #[test]
    fn the_flat_category_list_becomes_a_tree_with_orphans_as_roots() {
        let items = [
            json!({"id": 3, "parentId": 0, "name": "Thời trang"}),
            json!({"id": 12, "parentId": 3, "name": "Áo"}),
            json!({"id": 13, "parentId": 12, "name": "Áo thun"}),
            json!({"id": 20, "parentId": 999, "name": "Lạc"}),
            json!({"id": 21, "parentId": 21, "name": "Tự"}),
        ];
        let tree = category_tree(&items);
        let roots: Vec<u64> = tree.iter().map(|c| c.id.get()).collect();
        assert_eq!(roots, vec![3, 20, 21]);
        assert_eq!(tree[0].children[0].children[0].id.get(), 13);
        assert_eq!(tree[0].children[0].parent_id.map(NhanhId::get), Some(3));
    }

    #[test]
    fn added_order_ids_in_every_shape() {
        for data in [json!({"id": 7}), json!({"orderId": "7"}), json!([7]), json!([{"id": 7}])] {
            assert_eq!(added_order_id(&data).map(NhanhId::get), Some(7), "{data}");
        }
        assert_eq!(added_order_id(&json!({})), None);
    }
}
