//! Lenient decoding of Nhanh JSON (both API versions): the generic readers of [`crate::lenient`]
//! and Nhanh's ids and depots.

pub use crate::lenient::{collection, float, int, text};
use serde_json::Value;

/// Reads a Nhanh id (a positive integer, as a number or numeric text): the one reader of ids for
/// both versions' answers and webhooks.
pub fn id(v: &Value) -> Option<crate::domain::NhanhId> {
    int(v).and_then(|n| u64::try_from(n).ok()).and_then(crate::domain::NhanhId::new)
}

/// Reads a Nhanh id for a wire struct's field (`deserialize_with`); "no id" (null, absent, 0,
/// negative, junk) is `None`.
pub fn de_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<crate::domain::NhanhId>, D::Error> {
    Ok(id(&<Value as serde::Deserialize>::deserialize(d)?))
}

/// A customer of `customer/list` (v3) or `customer/search` (v2): the same record in both.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CustomerRecord {
    /// Its id.
    #[serde(deserialize_with = "de_id")]
    pub id: Option<crate::domain::NhanhId>,
    /// Name.
    #[serde(deserialize_with = "crate::lenient::de::text")]
    pub name: Option<String>,
    /// Mobile, as Nhanh holds it.
    #[serde(deserialize_with = "crate::lenient::de::text")]
    pub mobile: Option<String>,
    /// Email.
    #[serde(deserialize_with = "crate::lenient::de::text")]
    pub email: Option<String>,
    /// Free-text address.
    #[serde(deserialize_with = "crate::lenient::de::text")]
    pub address: Option<String>,
}

impl CustomerRecord {
    /// The neutral customer, when it has an id.
    pub fn into_customer(self) -> Option<crate::nhanh::Customer> {
        Some(crate::nhanh::Customer {
            id: self.id?,
            name: self.name,
            mobile: self.mobile,
            email: self.email,
            address: self.address,
        })
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
    use serde_json::json;

    #[test]
    fn depots_read_with_ids_as_numbers_or_text() {
        assert_eq!(depot(&json!({"id": "31010", "name": "Kho Hà Nội"})).map(|d| d.id), Some(31_010));
        assert_eq!(depot(&json!({"id": 7})).map(|d| d.name), Some(String::new()));
        assert_eq!(depot(&json!({"id": 0, "name": "x"})), None);
        assert_eq!(depot(&json!({"name": "x"})), None);
    }
}
