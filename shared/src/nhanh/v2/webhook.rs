//! Decoding of v2 webhook envelopes: `{event, businessId, webhooksVerifyToken, data}`.
//! `productDelete` is accepted as an id, an array of ids (or of objects with an id), an object
//! with `productId`/`id`, an object with `ids`/`productIds`, or an object keyed by id.

use crate::domain::{BusinessId, NhanhId};
use crate::nhanh::lenient::{id, int, text};
use crate::nhanh::{Webhook, WebhookError, WebhookKind};
use crate::secrets::SecretString;
use serde_json::Value;

fn record_id(v: &Value, keys: &[&str]) -> Option<NhanhId> {
    id(v).or_else(|| keys.iter().find_map(|k| id(&v[*k])))
}

fn ids_in(data: &Value, keys: &[&str]) -> Vec<NhanhId> {
    match data {
        Value::Array(items) => items.iter().filter_map(|v| record_id(v, keys)).collect(),
        Value::Object(map) => {
            if let Some(one) = keys.iter().find_map(|k| id(&data[*k])) {
                return vec![one];
            }
            for list in ["ids", "productIds", "orderIds"] {
                if let Value::Array(items) = &data[list] {
                    return items.iter().filter_map(id).collect();
                }
            }
            map.iter()
                .filter_map(|(k, v)| k.parse::<u64>().ok().and_then(NhanhId::new).or_else(|| record_id(v, keys)))
                .collect()
        }
        other => id(other).into_iter().collect(),
    }
}

/// Decodes a webhook body.
pub fn parse(body: &Value) -> Result<Webhook, WebhookError> {
    if !body.is_object() {
        return Err(WebhookError("body must be a JSON object".into()));
    }
    let event_name =
        body["event"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| WebhookError("missing field: event".into()))?;
    let business_id = int(&body["businessId"])
        .and_then(|n| u64::try_from(n).ok())
        .and_then(BusinessId::new)
        .ok_or_else(|| WebhookError("missing or invalid field: businessId".into()))?;
    let verify_token = text(&body["webhooksVerifyToken"]).map(SecretString::new);
    let data = &body["data"];
    let kind = match event_name {
        "webhooksEnabled" => WebhookKind::WebhooksEnabled,
        "orderAdd" | "orderUpdate" => WebhookKind::OrderChanged,
        "orderDelete" => WebhookKind::OrderDeleted,
        "productAdd" | "productUpdate" => WebhookKind::ProductChanged,
        "productDelete" => WebhookKind::ProductDeleted,
        "inventoryChange" => WebhookKind::StockChanged,
        _ => WebhookKind::NotSynced,
    };
    let record_ids = match kind {
        WebhookKind::OrderChanged | WebhookKind::OrderDeleted => ids_in(data, &["orderId", "id"]),
        WebhookKind::ProductChanged | WebhookKind::ProductDeleted => ids_in(data, &["productId", "idNhanh", "id"]),
        WebhookKind::WebhooksEnabled
        | WebhookKind::AppUninstalled
        | WebhookKind::StockChanged
        | WebhookKind::NotSynced => Vec::new(),
    };
    let needs_ids = !matches!(kind, WebhookKind::WebhooksEnabled) && !kind.is_ignored();
    if needs_ids && record_ids.is_empty() {
        return Err(WebhookError(format!("{event_name}: data names no record id")));
    }
    let mut record_ids = record_ids;
    record_ids.sort();
    record_ids.dedup();
    Ok(Webhook {
        event_name: event_name.to_owned(),
        kind,
        business_id: Some(business_id),
        verify_tokens: verify_token.into_iter().collect(),
        record_ids,
        unexpected: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn env(event: &str, data: Value) -> Value {
        json!({"event": event, "businessId": "12345", "webhooksVerifyToken": "tok", "data": data})
    }

    fn ids(w: &Webhook) -> Vec<u64> {
        w.record_ids.iter().map(|i| i.get()).collect()
    }

    #[test]
    fn every_documented_shape() {
        let w = parse(&env("orderAdd", json!({"orderId": "101", "status": "New", "products": [{"id": 5}]}))).unwrap();
        assert_eq!(
            (w.kind, ids(&w), w.business_id.map(|b| b.get())),
            (WebhookKind::OrderChanged, vec![101], Some(12345))
        );
        assert_eq!(
            ids(&parse(&env("orderUpdate", json!({"orderId": 101, "shopOrderId": "h1", "status": "Confirmed"})))
                .unwrap()),
            vec![101]
        );
        assert_eq!(parse(&env("orderDelete", json!({"orderId": 101}))).unwrap().kind, WebhookKind::OrderDeleted);
        assert_eq!(ids(&parse(&env("orderDelete", json!([101, "102"]))).unwrap()), vec![101, 102]);
        assert_eq!(ids(&parse(&env("productAdd", json!({"productId": 7, "name": "A"}))).unwrap()), vec![7]);
        assert_eq!(ids(&parse(&env("productUpdate", json!({"idNhanh": "8"}))).unwrap()), vec![8]);
        for data in [
            json!([9, 10]),
            json!({"productIds": [9, 10]}),
            json!({"ids": ["9", "10"]}),
            json!({"9": {}, "10": {}}),
            json!([{"id": 9}, {"productId": 10}]),
        ] {
            assert_eq!(ids(&parse(&env("productDelete", data.clone())).unwrap()), vec![9, 10], "{data}");
        }
        assert_eq!(ids(&parse(&env("productDelete", json!({"productId": 9}))).unwrap()), vec![9]);
        assert_eq!(parse(&env("webhooksEnabled", Value::Null)).unwrap().kind, WebhookKind::WebhooksEnabled);
        assert_eq!(
            parse(&env("inventoryChange", json!({"5": {"id": 5, "available": 1}}))).unwrap().kind,
            WebhookKind::StockChanged
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        assert!(parse(&json!([])).is_err());
        assert_eq!(parse(&json!({"businessId": 1, "webhooksVerifyToken": "t"})).unwrap_err().0, "missing field: event");
        assert!(parse(&json!({"event": "orderAdd", "webhooksVerifyToken": "t", "data": {"orderId": 1}}))
            .unwrap_err()
            .0
            .contains("businessId"));
        assert!(parse(&json!({"event": "orderAdd", "businessId": 1, "data": {"orderId": 1}}))
            .unwrap()
            .verify_tokens
            .is_empty());
        assert!(parse(&env("orderAdd", json!({"status": "New"}))).unwrap_err().0.contains("no record id"));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::hash_map("[a-zA-Z0-9]{0,10}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_envelopes_never_panic(data in json_value(), event in prop_oneof![Just("orderAdd".to_string()), Just("productDelete".to_string()), ".{0,10}".prop_map(String::from)]) {
            let _ = parse(&env(&event, data.clone()));
            let _ = parse(&data);
        }
    }
}
