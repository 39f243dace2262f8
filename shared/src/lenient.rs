//! Lenient reading of outside JSON (Nhanh's answers and webhooks, the Hub's events): numbers
//! as text, `""`/`null` for missing values, and collections keyed by id (`{"123": {...}}`) or
//! given as arrays (`[]` when empty). A value of an unexpected type reads as absent.

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

/// Reads `v` as the wire struct `T` (whose fields read leniently, [`de`]); `None` when `v` is not
/// an object.
pub fn record<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    T::deserialize(v).ok()
}

/// Readers for the fields of `#[derive(Deserialize)]` wire structs (`deserialize_with`): each
/// reads whatever JSON the field holds and applies the lenient reader above, so a field of an
/// unexpected type reads as absent instead of failing the whole record. With the struct's
/// `#[serde(default)]`, an absent field is absent too.
pub mod de {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// An integer ([`super::int`]).
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(super::int(&Value::deserialize(d)?))
    }

    /// A float ([`super::float`]).
    pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(super::float(&Value::deserialize(d)?))
    }

    /// Text ([`super::text`]).
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(super::text(&Value::deserialize(d)?))
    }

    /// Money given as a number (or numeric text) or as `{"amount": …}`.
    pub fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(super::int(&v).or_else(|| super::int(&v["amount"])))
    }

    /// A nested object; anything else (null, `[]`, text) is its default.
    pub fn object<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
        Ok(T::deserialize(&Value::deserialize(d)?).unwrap_or_default())
    }

    /// The items of an array, or the values of an object keyed by id ([`super::collection`]); an
    /// item that does not read is left out.
    pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(super::collection(&v).into_iter().filter_map(|item| T::deserialize(item).ok()).collect())
    }

    /// The JSON as it is, for a field whose shape differs between versions (read by its decoder).
    pub fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

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
