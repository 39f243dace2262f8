//! A member's right to erasure (issue 24, the Hub's `customer.erased`): the person's name, phone,
//! email and address leave every item the connector keeps for the account (id maps, snapshots,
//! intents, dead letters), and only what avoids re-creating them stays: the Hub id and a salted
//! hash of the phone, in one tombstone item.

use super::StoreError;
use crate::domain::{AccountId, HubId, Phone};
use async_trait::async_trait;
use time::OffsetDateTime;

/// What an erasure changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Items deleted (the phone's maps and create intent, dead letters that carried the person).
    pub deleted: usize,
    /// Snapshots and intents whose body was rewritten without the person.
    pub redacted: usize,
}

/// The salted hash kept of an erased phone: SHA-256 of the account and the phone (the account is
/// the salt, so one hash says nothing of another account's customers).
pub fn phone_hash(account: &AccountId, phone: &Phone) -> String {
    crate::domain::work::sha256_hex(&[account.as_str().as_bytes(), b"#", phone.as_str().as_bytes()])
}

/// Removes a member's personal data from what the connector keeps.
#[async_trait]
pub trait ErasureStore: Send + Sync {
    /// Erases the Hub customer `hub_id` (phone `phone`, if the event named a valid one) from the
    /// account's items and keeps the tombstone. Repeating it changes nothing more.
    async fn erase_customer(
        &self,
        account: &AccountId,
        hub_id: &HubId,
        phone: Option<&Phone>,
        at: OffsetDateTime,
    ) -> Result<Erased, StoreError>;
    /// Whether the Hub customer `hub_id` of the account was erased (its later Hub events are not
    /// pushed to Nhanh).
    async fn is_erased(&self, account: &AccountId, hub_id: &HubId) -> Result<bool, StoreError>;
}

/// The strings whose presence marks a stored body as possibly holding the person: the Hub id as a
/// JSON string, and the phone as the connector writes it. A body that holds one is then checked
/// field by field ([`redact`]); a dead letter that holds one is deleted.
pub fn search_strings(hub_id: &HubId, phone: Option<&Phone>) -> Vec<String> {
    std::iter::once(format!("\"{}\"", hub_id.as_str())).chain(phone.map(|p| p.as_str().to_owned())).collect()
}

/// `body` (a snapshot's or intent's JSON) without the person: the customer's name, phone, email
/// and address become null wherever they are (an order's `customer`, a customer body's own
/// fields). `None` when the body does not hold them, or no longer (nothing to rewrite).
pub fn redact(body: &str, hub_id: &HubId, phone: Option<&Phone>) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    let phone_matches = |v: &serde_json::Value| {
        let Some(phone) = phone else { return false };
        v.as_str().and_then(Phone::parse).is_some_and(|p| p == *phone)
    };
    let is_the_customer = value["customer_id"].as_str() == Some(hub_id.as_str())
        || phone_matches(&value["customer"]["phone"])
        || phone_matches(&value["phone"])
        || phone_matches(&value["mobile"]);
    if !is_the_customer {
        return None;
    }
    let before = value.clone();
    let blank = |holder: &mut serde_json::Value| {
        if let Some(fields) = holder.as_object_mut() {
            for field in ["name", "phone", "email", "address", "mobile"] {
                if fields.contains_key(field) {
                    fields.insert(field.into(), serde_json::Value::Null);
                }
            }
        }
    };
    if let Some(customer) = value.get_mut("customer") {
        blank(customer);
    }
    blank(&mut value);
    // Already without the person (an erasure repeated): nothing to rewrite.
    (value != before).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_body_of_the_customer_loses_name_phone_email_and_address_and_others_are_left_alone() {
        let hub = HubId::parse("c-9").unwrap();
        let phone = Phone::parse("+84912345678").unwrap();
        let order =
            json!({"code": "7", "customer_id": "c-9", "customer": {"name": "Lan", "phone": "0912345678"}, "total": 5});
        let redacted: serde_json::Value =
            serde_json::from_str(&redact(&order.to_string(), &hub, Some(&phone)).unwrap()).unwrap();
        assert_eq!(redacted["customer"], json!({"name": null, "phone": null}));
        assert_eq!((redacted["customer_id"].as_str(), redacted["total"].as_i64()), (Some("c-9"), Some(5)));
        let by_phone = json!({"customer_id": null, "customer": {"name": "Lan", "phone": "84912345678"}});
        assert!(redact(&by_phone.to_string(), &hub, Some(&phone)).is_some(), "another format of the number");
        let customer = json!({"name": "Lan", "phone": "0912345678", "email": "lan@x.vn", "address": "Hà Nội"});
        let gone: serde_json::Value =
            serde_json::from_str(&redact(&customer.to_string(), &hub, Some(&phone)).unwrap()).unwrap();
        assert_eq!(gone, json!({"name": null, "phone": null, "email": null, "address": null}));
        let other = json!({"customer_id": "c-1", "customer": {"name": "Hoa", "phone": "0987654321"}});
        assert_eq!(redact(&other.to_string(), &hub, Some(&phone)), None);
        assert_eq!(redact("not json", &hub, Some(&phone)), None);
        let done = redact(&order.to_string(), &hub, Some(&phone)).unwrap();
        assert_eq!(redact(&done, &hub, Some(&phone)), None, "nothing left to erase");
    }
}
