//! Hub events (`POST /hub/hook/{account_id}`, loyalty-hub-api.md): read once, at intake, into a
//! typed [`HubEvent`]; the queue carries that, never the body.
//!
//! Decision: a `customer.created` or `order.created` event keeps the record the Hub sent (only the
//! fields the connector reads; the phone included), because the Hub contract has no read of one
//! customer or order by id: the processor could only find it again by listing everything created
//! since `occurred_at`. A `customer.erased` keeps the id and the phone its maps are found by.
//! A queued event is written in the Hub's own shape (`{"event", "occurred_at", "data"}`), so an
//! item queued before this type existed (the whole body) reads through the same reader.

use super::{HubCustomer, HubOrder, OrderCustomerRef, OrderItem};
use crate::domain::{HubId, Phone};
use crate::lenient::{float, int, text};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A Hub event body the connector cannot take, with the message intake answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubEventError {
    /// The body is not JSON.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// A required field is missing (or of the wrong type).
    #[error("missing field: {0}")]
    Missing(&'static str),
    /// `occurred_at` is not an RFC 3339 time.
    #[error("occurred_at is not an ISO-8601 time")]
    BadTime,
    /// `data.id` is not a Hub id.
    #[error("data.id must be 1-128 printable ASCII characters")]
    BadId,
    /// An event the connector does not handle (only when reading a queued item).
    #[error("unknown Hub event: {0}")]
    Unknown(String),
}

/// The record a Hub event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum HubEventRecord {
    /// `customer.created`: a member created in the Hub (R6, to Nhanh).
    CustomerCreated(HubCustomer),
    /// `order.created`: an order created in the Hub (R8, to Nhanh).
    OrderCreated(HubOrder),
    /// `customer.erased`: a member's right to erasure.
    CustomerErased {
        /// The Hub customer.
        id: HubId,
        /// Their phone, when the event carries a valid one.
        phone: Option<Phone>,
    },
}

/// A Hub event the connector handles, as it travels through the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct HubEvent {
    /// When it happened in the Hub.
    pub occurred_at: OffsetDateTime,
    /// What it is about.
    pub record: HubEventRecord,
}

impl HubEvent {
    /// The event's name, as the Hub spells it.
    pub fn name(&self) -> &'static str {
        match self.record {
            HubEventRecord::CustomerCreated(_) => "customer.created",
            HubEventRecord::OrderCreated(_) => "order.created",
            HubEventRecord::CustomerErased { .. } => "customer.erased",
        }
    }

    /// The Hub id of the record.
    pub fn id(&self) -> &HubId {
        match &self.record {
            HubEventRecord::CustomerCreated(c) => &c.id,
            HubEventRecord::OrderCreated(o) => &o.id,
            HubEventRecord::CustomerErased { id, .. } => id,
        }
    }

    /// Whether it is about a customer (its events share one queue group, in order).
    pub fn is_customer(&self) -> bool {
        !matches!(self.record, HubEventRecord::OrderCreated(_))
    }
}

/// A Hub event body read as far as its envelope: intake checks the account and the time before it
/// reads the record.
#[derive(Debug)]
pub struct HubEventBody {
    /// `event`.
    pub name: String,
    /// `account_id` (text or number), when present.
    pub account_id: Option<String>,
    occurred_at: Option<String>,
    data: Value,
}

impl HubEventBody {
    /// Reads the envelope: `event` must be text.
    pub fn parse(body: &[u8]) -> Result<Self, HubEventError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| HubEventError::NotJson(e.to_string()))?;
        Self::of_value(value)
    }

    fn of_value(mut value: Value) -> Result<Self, HubEventError> {
        let name = value["event"].as_str().ok_or(HubEventError::Missing("event"))?.to_owned();
        let occurred_at = value["occurred_at"].as_str().map(str::to_owned);
        Ok(Self { name, account_id: text(&value["account_id"]), occurred_at, data: value["data"].take() })
    }

    /// `occurred_at`, which must be present and an RFC 3339 time.
    pub fn occurred_at(&self) -> Result<OffsetDateTime, HubEventError> {
        let raw = self.occurred_at.as_deref().ok_or(HubEventError::Missing("occurred_at"))?;
        OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| HubEventError::BadTime)
    }

    /// The typed event; `Ok(None)` for an event the connector does not handle. A field of an
    /// unexpected type counts as absent, except the record's id, which must be a Hub id exactly
    /// (it names the record's queue group).
    pub fn into_event(self) -> Result<Option<HubEvent>, HubEventError> {
        let occurred_at = self.occurred_at()?;
        let known = matches!(self.name.as_str(), "customer.created" | "order.created" | "customer.erased");
        if !known {
            return Ok(None);
        }
        let data = &self.data;
        let raw_id = match &data["id"] {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(HubEventError::Missing("data.id")),
        };
        let id = HubId::parse(&raw_id).ok().filter(|h| h.as_str() == raw_id).ok_or(HubEventError::BadId)?;
        let record = match self.name.as_str() {
            "customer.created" => HubEventRecord::CustomerCreated(customer(id, data)),
            "order.created" => HubEventRecord::OrderCreated(order(id, data)),
            _ => HubEventRecord::CustomerErased { id, phone: text(&data["phone"]).and_then(|p| Phone::parse(&p)) },
        };
        Ok(Some(HubEvent { occurred_at, record }))
    }
}

fn time(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// The customer of a `customer.created` event (the Hub's customer shape).
fn customer(id: HubId, data: &Value) -> HubCustomer {
    HubCustomer {
        id,
        name: text(&data["name"]),
        phone: text(&data["phone"]),
        email: text(&data["email"]),
        gender: text(&data["gender"]),
        birthday: text(&data["birthday"]),
        address: text(&data["address"]),
        origin: text(&data["origin"]),
        created_at: time(&data["created_at"]),
    }
}

/// The order of an `order.created` event (the `origin=hub` listing's shape). A line without a
/// quantity counts one; money given as a float is rounded to whole VND.
fn order(id: HubId, data: &Value) -> HubOrder {
    let customer = &data["customer"];
    let items = data["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    HubOrder {
        id,
        code: text(&data["code"]),
        status: text(&data["status"]),
        customer: OrderCustomerRef {
            name: text(&customer["name"]),
            phone: text(&customer["phone"]),
            address: text(&customer["address"]),
        },
        items: items
            .iter()
            .map(|line| OrderItem {
                product_id: text(&line["product_id"]).and_then(|p| HubId::parse(&p).ok()),
                code: text(&line["code"]),
                name: text(&line["name"]),
                quantity: float(&line["quantity"]).unwrap_or(1.0),
                price: int(&line["price"]).unwrap_or(0),
                discount: int(&line["discount"]).unwrap_or(0),
            })
            .collect(),
        total: int(&data["total"]),
        note: text(&data["note"]),
        created_at: time(&data["created_at"]),
    }
}

/// The Hub's shape of an event, as a queued item holds it.
#[derive(Serialize)]
struct Written<'a, T: Serialize> {
    event: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    data: &'a T,
}

#[derive(Serialize)]
struct Erased<'a> {
    id: &'a HubId,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a Phone>,
}

impl Serialize for HubEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (event, occurred_at) = (self.name(), self.occurred_at);
        match &self.record {
            HubEventRecord::CustomerCreated(c) => Written { event, occurred_at, data: c }.serialize(s),
            HubEventRecord::OrderCreated(o) => Written { event, occurred_at, data: o }.serialize(s),
            HubEventRecord::CustomerErased { id, phone } => {
                Written { event, occurred_at, data: &Erased { id, phone: phone.as_ref() } }.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for HubEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let body = HubEventBody::of_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)?;
        let name = body.name.clone();
        body.into_event()
            .map_err(serde::de::Error::custom)?
            .ok_or_else(|| serde::de::Error::custom(HubEventError::Unknown(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Result<Option<HubEvent>, HubEventError> {
        HubEventBody::parse(v.to_string().as_bytes())?.into_event()
    }

    const AT: &str = "2026-12-05T10:00:00Z";

    #[test]
    fn each_event_reads_into_its_record_and_unknown_ones_into_none() {
        let created = event(json!({"event": "customer.created", "occurred_at": AT,
            "data": {"id": 42, "name": " Lan ", "phone": "0912345678", "points": 9, "created_at": "junk"}}));
        let Ok(Some(HubEvent { record: HubEventRecord::CustomerCreated(c), .. })) = created else {
            panic!("{created:?}")
        };
        assert_eq!((c.id.as_str(), c.name.as_deref(), c.created_at), ("42", Some("Lan"), None));

        let order = event(json!({"event": "order.created", "occurred_at": AT, "data": {"id": "h-1",
            "customer": {"phone": "0912345678"}, "items": [{"product_id": 7, "price": 1000.4}, {"quantity": "2"}]}}));
        let Ok(Some(HubEvent { record: HubEventRecord::OrderCreated(o), .. })) = order else { panic!("{order:?}") };
        assert_eq!(o.items.iter().map(|l| (l.quantity, l.price)).collect::<Vec<_>>(), [(1.0, 1000), (2.0, 0)]);
        assert_eq!(o.items[0].product_id.as_ref().map(HubId::as_str), Some("7"));

        let erased = event(
            json!({"event": "customer.erased", "occurred_at": AT, "data": {"id": "c9", "phone": "+84912345678"}}),
        );
        let Ok(Some(HubEvent { record: HubEventRecord::CustomerErased { phone, .. }, .. })) = erased else { panic!() };
        assert_eq!(phone.as_ref().map(Phone::as_str), Some("0912345678"));

        assert_eq!(event(json!({"event": "voucher.used", "occurred_at": AT, "data": {}})), Ok(None));
    }

    #[test]
    fn a_body_without_what_it_must_hold_is_refused_with_its_reason() {
        let cases = [
            (json!([1]), HubEventError::Missing("event")),
            (json!({"event": "order.created"}), HubEventError::Missing("occurred_at")),
            (json!({"event": "order.created", "occurred_at": "yesterday"}), HubEventError::BadTime),
            (json!({"event": "order.created", "occurred_at": AT, "data": {}}), HubEventError::Missing("data.id")),
            (json!({"event": "order.created", "occurred_at": AT, "data": {"id": " x"}}), HubEventError::BadId),
            (json!({"event": "order.created", "occurred_at": AT, "data": {"id": "é"}}), HubEventError::BadId),
        ];
        for (body, wanted) in cases {
            assert_eq!(event(body.clone()).err(), Some(wanted), "{body}");
        }
        assert!(matches!(HubEventBody::parse(b"{"), Err(HubEventError::NotJson(_))));
    }

    #[test]
    fn a_queued_event_reads_back_and_so_does_a_whole_body_queued_before() {
        let body = json!({"event": "order.created", "account_id": "385", "occurred_at": AT, "extra": 1,
            "data": {"id": "h-1", "customer": {"name": "Lan", "phone": "0912345678"},
                "items": [{"product_id": null, "code": "X", "quantity": 1, "price": 50000, "discount": 0}], "total": 50000}});
        let old: HubEvent = serde_json::from_value(body).unwrap();
        let written = serde_json::to_string(&old).unwrap();
        assert!(!written.contains("extra") && !written.contains("385"), "{written}");
        assert_eq!(serde_json::from_str::<HubEvent>(&written).unwrap(), old);
        let unknown = serde_json::from_value::<HubEvent>(json!({"event": "x", "occurred_at": AT, "data": {"id": "1"}}));
        assert!(unknown.is_err());
    }
}
