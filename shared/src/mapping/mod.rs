//! Pure mapping Nhanh ⇄ Hub: statuses, money, products, groups, customers, order snapshots.
//! No I/O: callers resolve ids through the id maps and pass them in.

use crate::domain::{HubId, Phone};
use crate::hub::{
    CustomerInput, HubCustomer, OrderCustomerRef, OrderItem, OrderSnapshot, ProductGroupInput, ProductInput,
};
use crate::nhanh::{
    Bill, BillKind, Category, NewCustomer, Order, OrderCustomer, OrderLine, OrderStatus, Product, ProductStatus,
};
use time::OffsetDateTime;

/// The Hub status of a Nhanh order status (loyalty-hub-api.md § Orders); anything unknown → `new`.
pub fn order_status(nhanh: &OrderStatus) -> &'static str {
    use OrderStatus as S;
    match nhanh {
        S::New | S::Confirming | S::CustomerConfirming => "new",
        S::Confirmed | S::Packing | S::Packed | S::ChangeDepot | S::Pickup => "confirmed",
        S::Shipping => "shipping",
        S::Success => "completed",
        S::Failed => "failed",
        S::Canceled | S::Aborted | S::CarrierCanceled | S::SoldOut => "cancelled",
        S::Returning | S::Returned | S::ConfirmReturned => "returned",
        S::Other(_) => "new",
    }
}

/// The name of a Nhanh sale channel code (nhanh-api-v2.md §6.4); unknown codes as their number.
pub fn sale_channel(code: Option<i64>) -> Option<String> {
    let code = code?;
    let name = match code {
        1 => "Admin",
        2 => "Website",
        10 => "API",
        20 => "Facebook",
        21 => "Instagram",
        41 => "Lazada",
        42 => "Shopee",
        43 => "Sendo",
        45 => "Tiki",
        46 => "Zalo Shop",
        47 => "1Landing.vn",
        48 => "TikTok Shop",
        49 => "Zalo OA",
        50 => "Shopee chat",
        51 => "Lazada chat",
        52 => "Zalo cá nhân",
        other => return Some(other.to_string()),
    };
    Some(name.to_owned())
}

/// Order money (integer VND): `(subtotal, discount, shipping_fee, total)`.
///
/// `subtotal` = Σ price × quantity (rounded per line); `discount` = Σ line discounts + the order
/// discount (a line's `discount` is taken as the discount of the whole line, not per unit);
/// `shipping_fee` = the fee charged to the customer; `total` = subtotal − discount − points used
/// + shipping_fee. Deposits and transfers do not change it.
pub fn order_money(order: &Order) -> Result<(i64, i64, i64, i64), AbsurdAmount> {
    money(&order.items, order.money_discount, order.money_used_points, order.customer_ship_fee)
}

/// Money from outside that no sale can have: a line or a sum beyond what `f64` holds exactly
/// (2^53 VND, far above any real order), or not a number. The record fails for good, with this
/// reason, instead of wrapping around (release builds do not check `i64` overflow) or panicking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the record's money is out of range ({0}); it is not sent")]
pub struct AbsurdAmount(pub &'static str);

/// Amounts are exact in `f64` below this.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// The money formula of loyalty-hub-api.md over lines, the order-level discount, the points'
/// money and the shipping fee: `(subtotal, discount, shipping_fee, total)`, in checked arithmetic.
fn money(
    items: &[OrderLine],
    order_discount: i64,
    points_money: i64,
    shipping_fee: i64,
) -> Result<(i64, i64, i64, i64), AbsurdAmount> {
    let mut subtotal: i64 = 0;
    let mut discount: i64 = order_discount;
    for l in items {
        let line = (l.price as f64 * l.quantity).round();
        if !line.is_finite() || line.abs() >= MAX_EXACT {
            return Err(AbsurdAmount("line price × quantity"));
        }
        subtotal = subtotal.checked_add(line as i64).ok_or(AbsurdAmount("subtotal"))?;
        discount = discount.checked_add(l.discount).ok_or(AbsurdAmount("discount"))?;
    }
    let total = subtotal
        .checked_sub(discount)
        .and_then(|t| t.checked_sub(points_money))
        .and_then(|t| t.checked_add(shipping_fee))
        .ok_or(AbsurdAmount("total"))?;
    Ok((subtotal, discount, shipping_fee, total))
}

/// The Hub order code of a retail bill: `HD` + the bill id (bills and orders have separate id
/// spaces in Nhanh).
pub fn bill_code(bill_id: crate::domain::NhanhId) -> String {
    format!("HD{bill_id}")
}

/// The Hub order of a retail bill (loyalty-hub-api.md, "Retail bills"; R14): `code` `HD{id}`,
/// `sale_channel` `POS`, `completed` for a sale and `returned` for a return (`source_status`
/// `RetailSale` / `RetailReturn`), no shipping fee, the money formula with the bill discount and
/// the points' money, and `return_of` as resolved by the caller. Decision: a bill of another type
/// is shown as a sale.
pub fn bill_snapshot(
    bill: &Bill,
    customer_id: Option<HubId>,
    phone: Option<&Phone>,
    product_ids: &[Option<HubId>],
    return_of: Option<String>,
    deleted: bool,
    now: OffsetDateTime,
) -> Result<OrderSnapshot, AbsurdAmount> {
    let (subtotal, discount, shipping_fee, total) = money(&bill.items, bill.discount, bill.used_points_money, 0)?;
    let returned = bill.kind == BillKind::Return;
    Ok(OrderSnapshot {
        code: bill_code(bill.id),
        status: if returned { "returned" } else { "completed" }.to_owned(),
        source_status: if returned { "RetailReturn" } else { "RetailSale" }.to_owned(),
        sale_channel: Some("POS".to_owned()),
        customer_id,
        customer: OrderCustomerRef {
            name: bill.customer.name.clone(),
            phone: phone.and_then(Phone::for_hub).map(str::to_owned),
            address: None,
        },
        items: order_items(&bill.items, product_ids),
        subtotal,
        discount,
        shipping_fee,
        total,
        note: bill.description.clone(),
        created_at: bill.created_at,
        // Bills carry no update stamp: the creation time keeps the snapshot the same across passes.
        updated_at: bill.created_at.or(Some(now)),
        deleted,
        return_of: if returned { return_of } else { None },
    })
}

fn order_items(lines: &[OrderLine], product_ids: &[Option<HubId>]) -> Vec<OrderItem> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| OrderItem {
            product_id: product_ids.get(i).cloned().flatten(),
            code: l.code.clone(),
            name: l.name.clone(),
            quantity: l.quantity,
            price: l.price,
            discount: l.discount,
        })
        .collect()
}

/// The Hub product of a Nhanh product. `Inactive` (or a deletion) makes it inactive.
pub fn product_input(p: &Product, group_id: Option<HubId>, parent_id: Option<HubId>, deleted: bool) -> ProductInput {
    let active = !deleted && p.status != Some(ProductStatus::Inactive);
    ProductInput {
        name: if p.name.is_empty() { p.code.clone().unwrap_or_else(|| p.id.to_string()) } else { p.name.clone() },
        code: p.code.clone(),
        barcode: p.barcode.clone(),
        price: p.price,
        status: if active { "active" } else { "inactive" }.to_owned(),
        group_id,
        parent_id,
        // The Hub takes an http(s) URL or null; Nhanh sometimes sends "" for "no image".
        image: p.image.clone().filter(|u| u.starts_with("http://") || u.starts_with("https://")),
    }
}

/// The Hub product group of a category.
pub fn group_input(c: &Category, parent_id: Option<HubId>) -> ProductGroupInput {
    ProductGroupInput {
        name: if c.name.is_empty() { c.code.clone().unwrap_or_else(|| c.id.to_string()) } else { c.name.clone() },
        code: c.code.clone(),
        parent_id,
    }
}

/// The category tree flattened parents before children.
pub fn groups_in_order(tree: &[Category]) -> Vec<&Category> {
    let mut out = Vec::new();
    let mut level: Vec<&Category> = tree.iter().collect();
    while !level.is_empty() {
        out.extend(level.iter().copied());
        level = level.iter().flat_map(|c| c.children.iter()).collect();
    }
    out
}

/// The customer fields an order may write (R5, R7): name, phone, email, free-text address only.
/// A walk-in customer without a name is named by the phone, so the Hub (which needs a name on a
/// new customer) never refuses the customer, and with it the order; [`customer_changes`] never
/// lets that stand-in overwrite a name the Hub already has.
pub fn customer_from_order(customer: &OrderCustomer, phone: &Phone) -> CustomerInput {
    let name = customer.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    CustomerInput {
        name: Some(name.map_or_else(|| phone.as_str().to_owned(), str::to_owned)),
        phone: phone.for_hub().map(str::to_owned),
        email: customer.email.clone(),
        gender: None,
        birthday: None,
        address: customer.address.clone(),
    }
}

/// A Hub-created customer as Nhanh's `customer/add` takes it (R6: `phone` already normalised).
/// Blank texts are left out; a customer without a name is named by the phone (Nhanh needs one);
/// gender `male`/`female` becomes Nhanh's 1/2.
pub fn nhanh_customer(c: &HubCustomer, phone: &Phone) -> NewCustomer {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    NewCustomer {
        name: text(&c.name).unwrap_or_else(|| phone.as_str().to_owned()),
        mobile: phone.as_str().to_owned(),
        email: text(&c.email),
        address: text(&c.address),
        gender: match c.gender.as_deref() {
            Some("male") => Some(1),
            Some("female") => Some(2),
            _ => None,
        },
        birthday: text(&c.birthday),
    }
}

/// The fields of `wanted` that differ from what the Hub has (for a minimal update); `None` if none.
pub fn customer_changes(current: &crate::hub::HubCustomer, wanted: &CustomerInput) -> Option<CustomerInput> {
    let differs = |now: &Option<String>, want: &Option<String>| match want {
        Some(w) if !w.trim().is_empty() && now.as_deref() != Some(w.as_str()) => Some(w.clone()),
        _ => None,
    };
    let stand_in_name = wanted.name.is_some() && wanted.name == wanted.phone;
    let changes = CustomerInput {
        name: if stand_in_name { None } else { differs(&current.name, &wanted.name) },
        phone: None,
        email: differs(&current.email, &wanted.email),
        gender: None,
        birthday: None,
        address: differs(&current.address, &wanted.address),
    };
    (changes != CustomerInput::default()).then_some(changes)
}

/// The full snapshot of an order for the Hub.
pub fn order_snapshot(
    order: &Order,
    customer_id: Option<HubId>,
    phone: Option<&Phone>,
    product_ids: &[Option<HubId>],
    deleted: bool,
    now: OffsetDateTime,
) -> Result<OrderSnapshot, AbsurdAmount> {
    let (subtotal, discount, shipping_fee, total) = order_money(order)?;
    let items = order_items(&order.items, product_ids);
    Ok(OrderSnapshot {
        code: order.id.to_string(),
        status: order_status(&order.status).to_owned(),
        source_status: order.status.name().to_owned(),
        sale_channel: sale_channel(order.sale_channel),
        customer_id,
        customer: OrderCustomerRef {
            name: order.customer.name.clone(),
            // Only the normalised phone, never the raw one: the Hub refuses anything but
            // `0XXXXXXXXX` or null, and such a refusal would lose the order (R5).
            phone: phone.and_then(Phone::for_hub).map(str::to_owned),
            address: None,
        },
        items,
        subtotal,
        discount,
        shipping_fee,
        total,
        note: order.description.clone(),
        created_at: order.created_at,
        updated_at: Some(order.updated_at.unwrap_or(now)),
        deleted,
        return_of: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NhanhId;
    use crate::nhanh::{OrderCustomer, OrderLine};

    #[test]
    fn status_map_follows_the_contract() {
        let table = [
            ("New", "new"),
            ("Confirming", "new"),
            ("CustomerConfirming", "new"),
            ("Confirmed", "confirmed"),
            ("Packing", "confirmed"),
            ("Packed", "confirmed"),
            ("ChangeDepot", "confirmed"),
            ("Pickup", "confirmed"),
            ("Shipping", "shipping"),
            ("Success", "completed"),
            ("Failed", "failed"),
            ("Canceled", "cancelled"),
            ("Aborted", "cancelled"),
            ("CarrierCanceled", "cancelled"),
            ("SoldOut", "cancelled"),
            ("Returning", "returned"),
            ("Returned", "returned"),
            ("ConfirmReturned", "returned"),
            ("Pickingup", "new"),
            ("", "new"),
            ("success", "new"),
        ];
        for (nhanh, hub) in table {
            assert_eq!(order_status(&OrderStatus::from_name(nhanh)), hub, "{nhanh}");
            assert_eq!(OrderStatus::from_name(nhanh).name(), nhanh, "the v2 name is kept as source_status");
        }
    }

    fn order() -> Order {
        Order {
            id: NhanhId::new(10).unwrap(),
            shop_order_id: None,
            status: OrderStatus::Shipping,
            sale_channel: Some(42),
            customer: OrderCustomer {
                name: Some("Lan".into()),
                mobile: Some("+84 912 345 678".into()),
                email: None,
                address: Some("Hà Nội".into()),
            },
            items: vec![
                OrderLine {
                    product_id: NhanhId::new(1),
                    code: Some("A".into()),
                    name: Some("Áo".into()),
                    quantity: 2.0,
                    price: 100_000,
                    discount: 10_000,
                },
                OrderLine {
                    product_id: NhanhId::new(2),
                    code: None,
                    name: Some("Gạo".into()),
                    quantity: 1.5,
                    price: 20_001,
                    discount: 0,
                },
            ],
            money_discount: 5_000,
            money_used_points: 3_000,
            customer_ship_fee: 30_000,
            description: Some("giao giờ hành chính".into()),
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn money_formula() {
        // 2 × 100 000 + round(1.5 × 20 001) = 200 000 + 30 002
        assert_eq!(order_money(&order()).unwrap(), (230_002, 15_000, 30_000, 230_002 - 15_000 - 3_000 + 30_000));
        let mut empty = order();
        empty.items.clear();
        empty.money_discount = 0;
        empty.money_used_points = 0;
        empty.customer_ship_fee = 0;
        assert_eq!(order_money(&empty).unwrap(), (0, 0, 0, 0));
    }

    /// Issue 21: money sums from outside at their extremes are a refusal of the record, never a
    /// wrap-around (release builds do not check overflow) nor a panic.
    #[test]
    fn money_at_the_extremes_is_refused_not_wrapped() {
        type Mutation = fn(&mut Order);
        let cases: [(&str, Mutation); 6] = [
            ("huge price", |o| o.items[0].price = i64::MAX),
            ("huge quantity", |o| o.items[0].quantity = 1e300),
            ("not a number", |o| o.items[0].quantity = f64::NAN),
            ("discounts overflow", |o| {
                o.items[0].discount = i64::MAX;
                o.money_discount = i64::MAX;
            }),
            ("points underflow", |o| o.money_used_points = i64::MIN),
            ("fee overflow", |o| o.customer_ship_fee = i64::MAX),
        ];
        for (name, mutate) in cases {
            let mut o = order();
            mutate(&mut o);
            assert!(order_money(&o).is_err(), "{name}");
            assert!(order_snapshot(&o, None, None, &[], false, OffsetDateTime::UNIX_EPOCH).is_err(), "{name}");
        }
    }

    #[test]
    fn snapshot_carries_source_status_and_normalised_phone() {
        let o = order();
        let phone = Phone::parse(o.customer.mobile.as_deref().unwrap()).unwrap();
        let s = order_snapshot(
            &o,
            HubId::parse("c1").ok(),
            Some(&phone),
            &[HubId::parse("p1").ok(), None],
            true,
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!((s.status.as_str(), s.source_status.as_str()), ("shipping", "Shipping"));
        assert_eq!(s.sale_channel.as_deref(), Some("Shopee"));
        assert_eq!(s.customer.phone.as_deref(), Some("0912345678"));
        assert_eq!(s.items[0].product_id.as_ref().map(HubId::as_str), Some("p1"));
        assert_eq!(s.items[1].product_id, None);
        assert!(s.deleted);
        assert_eq!(s.code, "10");
        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "code",
            "status",
            "source_status",
            "sale_channel",
            "customer_id",
            "customer",
            "items",
            "subtotal",
            "discount",
            "shipping_fee",
            "total",
            "note",
            "created_at",
            "updated_at",
            "deleted",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn snapshot_phone_is_the_hub_form_or_null_never_the_raw_text() {
        // R5 / issue 9: a walk-in phone such as `12345` once reached the Hub raw and the order was refused.
        for (raw, want) in [("12345", None), ("02438123456", None), ("+84 912 345 678", Some("0912345678")), ("", None)]
        {
            let mut o = order();
            o.customer.mobile = Some(raw.into());
            let phone = Phone::parse_for_hub(raw);
            let s = order_snapshot(&o, None, phone.as_ref(), &[], false, OffsetDateTime::UNIX_EPOCH).unwrap();
            assert_eq!(s.customer.phone.as_deref(), want, "{raw:?}");
            let json = serde_json::to_value(&s).unwrap();
            assert!(
                json["customer"]["phone"].is_null() || json["customer"]["phone"] == want.unwrap_or_default(),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn customer_updates_only_what_changed() {
        let current = crate::hub::HubCustomer {
            id: HubId::parse("c1").unwrap(),
            name: Some("Lan".into()),
            phone: Some("0912345678".into()),
            email: None,
            gender: Some("female".into()),
            birthday: None,
            address: Some("Hà Nội".into()),
            origin: Some("hub".into()),
            created_at: None,
        };
        let phone = Phone::parse("0912345678").unwrap();
        let mut o = order();
        assert_eq!(customer_changes(&current, &customer_from_order(&o.customer, &phone)), None);
        o.customer.email = Some("lan@example.vn".into());
        let c = customer_changes(&current, &customer_from_order(&o.customer, &phone)).unwrap();
        assert_eq!((c.email.as_deref(), c.name, c.gender), (Some("lan@example.vn"), None, None));
        o.customer.name = Some("  ".into());
        let wanted = customer_from_order(&o.customer, &phone);
        assert_eq!(wanted.name.as_deref(), Some("0912345678"), "a nameless walk-in is named by the phone on create");
        assert_eq!(customer_changes(&current, &wanted).and_then(|c| c.name), None, "…but never renamed to it");
    }

    #[test]
    fn groups_parents_first() {
        let leaf = Category {
            id: NhanhId::new(3).unwrap(),
            parent_id: NhanhId::new(2),
            code: None,
            name: "c".into(),
            children: vec![],
        };
        let mid = Category {
            id: NhanhId::new(2).unwrap(),
            parent_id: NhanhId::new(1),
            code: None,
            name: "b".into(),
            children: vec![leaf],
        };
        let root = Category {
            id: NhanhId::new(1).unwrap(),
            parent_id: None,
            code: None,
            name: "a".into(),
            children: vec![mid],
        };
        let other =
            Category { id: NhanhId::new(4).unwrap(), parent_id: None, code: None, name: "d".into(), children: vec![] };
        let tree = [root, other];
        let order: Vec<u64> = groups_in_order(&tree).iter().map(|c| c.id.get()).collect();
        assert_eq!(order, vec![1, 4, 2, 3]);
    }

    #[test]
    fn products_inactive_when_deleted_or_inactive() {
        let p = Product {
            id: NhanhId::new(5).unwrap(),
            parent_id: None,
            category_id: None,
            code: Some("A".into()),
            barcode: None,
            name: "Áo".into(),
            price: Some(1),
            status: Some(ProductStatus::Active),
            image: None,
            created_at: None,
        };
        assert_eq!(product_input(&p, None, None, false).status, "active");
        assert_eq!(product_input(&p, None, None, true).status, "inactive");
        let mut q = p.clone();
        q.status = Some(ProductStatus::Inactive);
        assert_eq!(product_input(&q, None, None, false).status, "inactive");
    }
}
