//! What the Hub contract (loyalty-hub-api.md) refuses, checked field by field, so the Hub
//! simulator answers `422 validation_failed` (with `error.fields`) wherever a real Hub may.
//!
//! A lenient simulator once accepted an order whose customer phone was `12345`; a real Hub refused
//! it and the order was lost. Every format the contract states is enforced here: phones
//! `0XXXXXXXXX` or null, money as integers, ISO-8601 UTC timestamps, the status enums, ids that
//! must name records of the same account, `return_of` naming an order of the account, and the
//! order money formula (`subtotal` = Σ price × quantity; `total` ≤ subtotal − discount +
//! shipping_fee, since points used are never negative).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Field → message, as the Hub's `error.fields`.
pub type FieldErrors = BTreeMap<String, String>;

/// Existence questions the checks ask of the account's records.
pub trait Records {
    /// Whether a record of `kind` (`product_groups`, `products`, `customers`, `orders`) has `id`.
    fn has(&self, kind: &str, id: &str) -> bool;
    /// Whether an order of the account has `code`.
    fn has_order_code(&self, code: &str) -> bool;
}

/// Order statuses the contract names.
pub const ORDER_STATUSES: [&str; 7] = ["new", "confirmed", "shipping", "completed", "failed", "cancelled", "returned"];

/// Whether `phone` has the Hub's stored form `0XXXXXXXXX`.
pub fn is_hub_phone(phone: &str) -> bool {
    phone.len() == 10 && phone.starts_with('0') && phone.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` is an ISO-8601 timestamp in UTC (`Z` or `+00:00`).
pub fn is_utc_timestamp(text: &str) -> bool {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok_and(|t| t.offset().is_utc())
}

fn is_date(text: &str) -> bool {
    time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).is_ok()
}

struct Check<'a> {
    body: &'a Map<String, Value>,
    /// PUT of a customer: only fields present are checked (absent ones stay).
    partial: bool,
    errors: FieldErrors,
}

impl Check<'_> {
    fn fail(&mut self, field: &str, message: &str) {
        self.errors.entry(field.to_owned()).or_insert_with(|| message.to_owned());
    }

    /// `Some(value)` when present and not null; records "is required" when `required` and absent.
    fn get(&mut self, field: &str, required: bool) -> Option<&Value> {
        match self.body.get(field) {
            Some(Value::Null) | None => {
                if required && !self.partial {
                    self.fail(field, "is required");
                }
                None
            }
            Some(v) => Some(v),
        }
    }

    fn text(&mut self, field: &str, required: bool) -> Option<String> {
        let v = self.get(field, required)?.clone();
        match v.as_str() {
            Some(s) if required && s.trim().is_empty() => {
                self.fail(field, "must not be blank");
                None
            }
            Some(s) => Some(s.to_owned()),
            None => {
                self.fail(field, "must be a string or null");
                None
            }
        }
    }

    fn integer(&mut self, field: &str, required: bool) -> Option<i64> {
        let v = self.get(field, required)?.clone();
        match v.as_i64() {
            Some(n) => Some(n),
            None => {
                self.fail(field, "must be an integer (VND)");
                None
            }
        }
    }

    fn one_of(&mut self, field: &str, allowed: &[&str], required: bool) {
        if let Some(s) = self.text(field, required) {
            if !allowed.contains(&s.as_str()) {
                self.fail(field, &format!("must be one of {}", allowed.join(", ")));
            }
        }
    }

    fn reference(&mut self, field: &str, kind: &str, records: &dyn Records) {
        let Some(v) = self.get(field, false).cloned() else { return };
        match v.as_str() {
            Some(id) if records.has(kind, id) => {}
            Some(_) => self.fail(field, &format!("must be the id of one of this account's {kind}")),
            None => self.fail(field, "must be a Hub id (string) or null"),
        }
    }

    fn timestamp(&mut self, field: &str) {
        if let Some(s) = self.text(field, false) {
            if !is_utc_timestamp(&s) {
                self.fail(field, "must be an ISO-8601 UTC timestamp");
            }
        }
    }

    fn phone(&mut self, field: &str, required: bool) {
        match self.body.get(field) {
            Some(Value::String(p)) if is_hub_phone(p) => {}
            Some(Value::Null) | None if !required || self.partial => {}
            _ => self.fail(field, "must be null or a number in the form 0XXXXXXXXX"),
        }
    }
}

/// Checks one record body (the object inside the envelope) of `kind`.
/// `partial` is a customer PUT ("fields present overwrite; absent stay").
pub fn check(kind: &str, record: &Value, partial: bool, records: &dyn Records) -> Result<(), FieldErrors> {
    let Some(body) = record.as_object() else {
        return Err(FieldErrors::from([("body".to_owned(), "must be an object".to_owned())]));
    };
    let mut c = Check { body, partial, errors: FieldErrors::new() };
    match kind {
        "product_groups" => {
            c.text("name", true);
            c.text("code", false);
            c.reference("parent_id", "product_groups", records);
        }
        "products" => {
            c.text("name", true);
            c.text("code", false);
            c.text("barcode", false);
            if c.integer("price", false).is_some_and(|p| p < 0) {
                c.fail("price", "must not be negative");
            }
            c.one_of("status", &["active", "inactive"], true);
            c.reference("group_id", "product_groups", records);
            c.reference("parent_id", "products", records);
            if let Some(url) = c.text("image", false) {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    c.fail("image", "must be an http(s) URL or null");
                }
            }
        }
        "customers" => {
            c.text("name", true);
            c.phone("phone", true);
            c.text("email", false);
            c.text("address", false);
            c.one_of("gender", &["male", "female"], false);
            if let Some(b) = c.text("birthday", false) {
                if !is_date(&b) {
                    c.fail("birthday", "must be YYYY-MM-DD or null");
                }
            }
        }
        "orders" => check_order(&mut c, records),
        _ => {}
    }
    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(c.errors)
    }
}

fn check_order(c: &mut Check<'_>, records: &dyn Records) {
    c.text("code", true);
    c.one_of("status", &ORDER_STATUSES, true);
    c.text("source_status", false);
    c.text("sale_channel", false);
    c.reference("customer_id", "customers", records);
    match c.body.get("customer").cloned() {
        None | Some(Value::Null) => {}
        Some(Value::Object(customer)) => {
            if customer.get("name").is_some_and(|n| !n.is_null() && !n.is_string()) {
                c.fail("customer.name", "must be a string or null");
            }
            match customer.get("phone") {
                None | Some(Value::Null) => {}
                Some(Value::String(p)) if is_hub_phone(p) => {}
                Some(_) => c.fail("customer.phone", "must be null or a number in the form 0XXXXXXXXX"),
            }
        }
        Some(_) => c.fail("customer", "must be an object"),
    }
    let mut expected_subtotal = 0i64;
    let mut line_discounts = 0i64;
    let mut lines_ok = true;
    match c.body.get("items").cloned() {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = |f: &str| format!("items[{i}].{f}");
                match item.get("product_id") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(id)) if records.has("products", id) => {}
                    Some(_) => c.fail(&field("product_id"), "must be the id of one of this account's products or null"),
                }
                let quantity = item.get("quantity").and_then(Value::as_f64);
                let price = item.get("price").and_then(Value::as_i64);
                let discount = item.get("discount").and_then(Value::as_i64);
                if quantity.is_none_or(|q| !q.is_finite() || q <= 0.0) {
                    c.fail(&field("quantity"), "must be a positive number");
                }
                if price.is_none() {
                    c.fail(&field("price"), "must be an integer (VND)");
                }
                if discount.is_none() {
                    c.fail(&field("discount"), "must be an integer (VND)");
                }
                match (quantity, price, discount) {
                    (Some(q), Some(p), Some(d)) => {
                        expected_subtotal += (p as f64 * q).round() as i64;
                        line_discounts += d;
                    }
                    _ => lines_ok = false,
                }
            }
        }
        _ => {
            c.fail("items", "is required (a list)");
            lines_ok = false;
        }
    }
    let subtotal = c.integer("subtotal", true);
    let discount = c.integer("discount", true);
    let shipping_fee = c.integer("shipping_fee", true);
    let total = c.integer("total", true);
    if let (true, Some(subtotal), Some(discount), Some(shipping_fee), Some(total)) =
        (lines_ok, subtotal, discount, shipping_fee, total)
    {
        let lines = c.body.get("items").and_then(Value::as_array).map_or(0, Vec::len) as i64;
        // One VND of rounding per line is tolerated (price × fractional quantity).
        if (subtotal - expected_subtotal).abs() > lines {
            c.fail("subtotal", &format!("must be the sum of price × quantity ({expected_subtotal})"));
        }
        if discount < line_discounts {
            c.fail("discount", "must include every line discount");
        }
        if shipping_fee < 0 {
            c.fail("shipping_fee", "must not be negative");
        }
        if total > subtotal - discount + shipping_fee {
            c.fail("total", "must be subtotal − discount − points used + shipping_fee");
        }
    }
    c.text("note", false);
    c.timestamp("created_at");
    c.timestamp("updated_at");
    match c.body.get("deleted") {
        Some(Value::Bool(_)) => {}
        _ => c.fail("deleted", "is required (true or false)"),
    }
    match c.body.get("return_of") {
        None | Some(Value::Null) => {}
        Some(Value::String(code)) if records.has_order_code(code) => {}
        Some(_) => c.fail("return_of", "must be the code of an order of this account or null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Known;
    impl Records for Known {
        fn has(&self, kind: &str, id: &str) -> bool {
            (kind, id) == ("products", "p1")
                || (kind, id) == ("customers", "c1")
                || (kind, id) == ("product_groups", "g1")
        }
        fn has_order_code(&self, code: &str) -> bool {
            code == "HD1"
        }
    }

    fn order() -> Value {
        json!({"code": "10", "status": "completed", "source_status": "Success", "sale_channel": null, "customer_id": "c1",
            "customer": {"name": "Lan", "phone": "0912345678"},
            "items": [{"product_id": "p1", "code": "A", "name": "Áo", "quantity": 1.5, "price": 20001, "discount": 1000}],
            "subtotal": 30002, "discount": 6000, "shipping_fee": 30000, "total": 50000, "note": null,
            "created_at": "2026-12-02T06:25:58Z", "updated_at": "2026-12-02T06:25:58.922Z", "deleted": false, "return_of": null})
    }

    fn refused(kind: &str, body: Value) -> Vec<String> {
        check(kind, &body, false, &Known).err().map(|e| e.into_keys().collect()).unwrap_or_default()
    }

    #[test]
    fn a_valid_order_passes_and_each_broken_field_is_named() {
        assert_eq!(refused("orders", order()), Vec::<String>::new());
        let cases: &[(&str, Value, &str)] = &[
            ("/customer/phone", json!("12345"), "customer.phone"),
            ("/customer/phone", json!("02438123456"), "customer.phone"),
            ("/status", json!("done"), "status"),
            ("/customer_id", json!("nobody"), "customer_id"),
            ("/items/0/product_id", json!("p9"), "items[0].product_id"),
            ("/items/0/price", json!(20001.5), "items[0].price"),
            ("/subtotal", json!(31000), "subtotal"),
            ("/discount", json!(0), "discount"),
            ("/total", json!(70000), "total"),
            ("/created_at", json!("2026-12-02 13:25:58"), "created_at"),
            ("/updated_at", json!("2026-12-02T13:25:58+07:00"), "updated_at"),
            ("/deleted", json!(null), "deleted"),
            ("/return_of", json!("HD2"), "return_of"),
        ];
        for (pointer, value, field) in cases {
            let mut o = order();
            *o.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = value.clone();
            assert_eq!(refused("orders", o), vec![field.to_string()], "{pointer} = {value}");
        }
        let mut o = order();
        o["return_of"] = json!("HD1");
        o["customer"]["phone"] = json!(null);
        assert_eq!(refused("orders", o), Vec::<String>::new());
    }

    #[test]
    fn customers_products_and_groups() {
        assert!(refused(
            "customers",
            json!({"name": "Lan", "phone": "0912345678", "gender": "female", "birthday": "1990-02-28"})
        )
        .is_empty());
        assert_eq!(refused("customers", json!({"name": "Lan", "phone": "+84912345678"})), vec!["phone"]);
        assert_eq!(
            refused("customers", json!({"name": "Lan", "phone": "0912345678", "birthday": "1990-02-30"})),
            vec!["birthday"]
        );
        assert_eq!(refused("customers", json!({"name": "Lan", "phone": "0912345678", "gender": "f"})), vec!["gender"]);
        assert!(check("customers", &json!({"email": "a@b.vn"}), true, &Known).is_ok(), "a PUT may leave the phone out");
        assert!(refused(
            "products",
            json!({"name": "Áo", "status": "active", "price": 1000, "group_id": "g1", "image": null})
        )
        .is_empty());
        assert_eq!(refused("products", json!({"name": "Áo", "status": "Active"})), vec!["status"]);
        assert_eq!(refused("products", json!({"name": "Áo", "status": "active", "price": "1000"})), vec!["price"]);
        assert_eq!(refused("products", json!({"name": "Áo", "status": "active", "image": ""})), vec!["image"]);
        assert_eq!(refused("product_groups", json!({"name": "Áo", "parent_id": "g9"})), vec!["parent_id"]);
        assert_eq!(refused("product_groups", json!({"name": " "})), vec!["name"]);
    }
}
