//! Lenient decoding of Nhanh JSON (both API versions): numbers as strings, `""`/`null` for missing values, and
//! collections keyed by id (`{"123": {...}}`) or given as arrays (`[]` when empty).

use serde_json::Value;

/// Reads an integer from a number or numeric text; `""`, `null` and junk give `None`.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.round() as i64)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| f.round() as i64))
        }
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Reads a Nhanh id (a positive integer, as a number or numeric text): the one reader of ids for
/// both versions' answers and webhooks.
pub fn id(v: &Value) -> Option<crate::domain::NhanhId> {
    int(v).and_then(|n| u64::try_from(n).ok()).and_then(crate::domain::NhanhId::new)
}

/// Reads a float from a number or numeric text.
pub fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Reads text from a string or a number; empty text and `null` give `None`.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The values of a collection keyed by id, or the items of an array; anything else is empty.
pub fn collection(v: &Value) -> Vec<&Value> {
    match v {
        Value::Object(map) => map.values().collect(),
        Value::Array(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// A depot from a lookup item (`{id, name, …}`, the id a number or text); `None` without an id.
pub fn depot(v: &Value) -> Option<crate::domain::Depot> {
    let id = int(&v["id"]).and_then(|i| u64::try_from(i).ok()).filter(|i| *i > 0)?;
    Some(crate::domain::Depot { id, name: text(&v["name"]).unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn depots_read_with_ids_as_numbers_or_text() {
        assert_eq!(depot(&json!({"id": "31010", "name": "Kho Hà Nội"})).map(|d| d.id), Some(31_010));
        assert_eq!(depot(&json!({"id": 7})).map(|d| d.name), Some(String::new()));
        assert_eq!(depot(&json!({"id": 0, "name": "x"})), None);
        assert_eq!(depot(&json!({"name": "x"})), None);
    }

    #[test]
    fn loose_values() {
        assert_eq!(int(&json!("10231341")), Some(10_231_341));
        assert_eq!(int(&json!(250000)), Some(250_000));
        assert_eq!(int(&json!("250000.00")), Some(250_000));
        assert_eq!(int(&json!("")), None);
        assert_eq!(int(&json!(null)), None);
        assert_eq!(text(&json!(12)), Some("12".into()));
        assert_eq!(text(&json!("")), None);
        assert_eq!(collection(&json!([])).len(), 0);
        assert_eq!(collection(&json!({"1": {}, "2": {}})).len(), 2);
        assert_eq!(collection(&json!(false)).len(), 0);
    }

    proptest! {
        #[test]
        fn numeric_text_round_trips(n in any::<i32>()) {
            prop_assert_eq!(int(&json!(n.to_string())), Some(i64::from(n)));
            prop_assert_eq!(int(&json!(n)), Some(i64::from(n)));
        }

        #[test]
        fn never_panics_on_text(s in ".{0,30}") {
            let _ = int(&json!(s));
            let _ = float(&json!(s));
            let _ = text(&json!(s));
        }
    }
}
