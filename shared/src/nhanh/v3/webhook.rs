//! Decoding of v3 webhooks (nhanh-api-v3.md §5): `{event, businessId, data}` with the verify
//! token in the `Authorization` header.
//!
//! Decisions where the docs are contradictory or silent ([?]):
//! - the verify token is looked for in three places, all offered to intake for a constant-time
//!   comparison: the header as is, the header without a `Bearer ` prefix (any case), and the body's
//!   `webhooksVerifyToken` (§5.2);
//! - order events are read only for `info.id` (the webhook shape differs from `order/list`; the
//!   processor re-reads by id), also accepting a flat `id`/`orderId`;
//! - `orderPartialReturn` names the order and `originalOrder.id` (both are re-read);
//! - deletes are arrays of ids (numbers, numeric strings, or objects with `id`);
//! - a v2-shaped payload (body token, flat `orderId`, string `status`) on a v3 connection is
//!   flagged in `unexpected` (logged), and its ids are still used.

use crate::domain::NhanhId;
use crate::nhanh::hook::route as webhook_route;
use crate::nhanh::lenient::{id, text};
use crate::nhanh::{Webhook, WebhookError, WebhookKind};
use crate::secrets::SecretString;
use serde_json::Value;

/// Ids of a delete event: an array of ids or of objects with `id`; a lone id is accepted too.
fn id_list(data: &Value) -> Vec<NhanhId> {
    match data {
        Value::Array(items) => items.iter().filter_map(|v| id(v).or_else(|| id(&v["id"]))).collect(),
        Value::Object(_) => ["ids", "orderIds", "productIds"]
            .iter()
            .find_map(|k| data[*k].as_array())
            .map(|items| items.iter().filter_map(id).collect())
            .unwrap_or_else(|| id(&data["id"]).into_iter().collect()),
        other => id(other).into_iter().collect(),
    }
}

/// The token candidates: the header as is, the header without `Bearer `, the body field.
pub(crate) fn token_candidates(authorization: Option<&str>, body: &Value) -> Vec<SecretString> {
    let mut out = Vec::new();
    if let Some(raw) = authorization.map(str::trim).filter(|h| !h.is_empty()) {
        out.push(SecretString::new(raw));
        let prefix = raw.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer "));
        if let (Some(_), Some(rest)) = (prefix, raw.get(7..)) {
            out.push(SecretString::new(rest.trim()));
        }
    }
    if let Some(body_token) = text(&body["webhooksVerifyToken"]) {
        out.push(SecretString::new(body_token));
    }
    out
}

/// Decodes a v3 webhook.
pub fn parse(authorization: Option<&str>, body: &Value) -> Result<Webhook, WebhookError> {
    let route = webhook_route(body)?;
    let data = &body["data"];
    let event = route.event_name.as_str();
    let kind = match event {
        "webhooksEnabled" => WebhookKind::WebhooksEnabled,
        "appUninstalled" => WebhookKind::AppUninstalled,
        "orderAdd" | "orderUpdate" | "orderPartialReturn" => WebhookKind::OrderChanged,
        "orderDelete" => WebhookKind::OrderDeleted,
        "productAdd" | "productUpdate" => WebhookKind::ProductChanged,
        "productDelete" => WebhookKind::ProductDeleted,
        "inventoryChange" => WebhookKind::StockChanged,
        _ => WebhookKind::NotSynced,
    };
    let v2_shaped = body.get("webhooksVerifyToken").is_some()
        || data.get("orderId").is_some()
        || (kind == WebhookKind::OrderChanged && data["status"].is_string() && data.get("info").is_none());
    let mut record_ids: Vec<NhanhId> = match kind {
        WebhookKind::OrderChanged => {
            let own = id(&data["info"]["id"]).or_else(|| id(&data["id"])).or_else(|| id(&data["orderId"]));
            let original = id(&data["originalOrder"]["id"]).or_else(|| id(&data["info"]["originalOrderId"]));
            own.into_iter().chain(original.filter(|_| event == "orderPartialReturn")).collect()
        }
        WebhookKind::ProductChanged => id(&data["id"]).or_else(|| id(&data["productId"])).into_iter().collect(),
        WebhookKind::OrderDeleted | WebhookKind::ProductDeleted => id_list(data),
        WebhookKind::WebhooksEnabled
        | WebhookKind::AppUninstalled
        | WebhookKind::StockChanged
        | WebhookKind::NotSynced => Vec::new(),
    };
    let needs_ids = matches!(
        kind,
        WebhookKind::OrderChanged
            | WebhookKind::OrderDeleted
            | WebhookKind::ProductChanged
            | WebhookKind::ProductDeleted
    );
    if needs_ids && record_ids.is_empty() {
        return Err(WebhookError(format!("{event}: data names no record id")));
    }
    let needs_business = !matches!(kind, WebhookKind::WebhooksEnabled);
    if needs_business && route.business_id.is_none() {
        return Err(WebhookError("missing field: businessId".into()));
    }
    record_ids.sort();
    record_ids.dedup();
    Ok(Webhook {
        event_name: route.event_name.clone(),
        kind,
        business_id: route.business_id,
        verify_tokens: token_candidates(authorization, body),
        record_ids,
        unexpected: v2_shaped
            .then(|| "a v2-shaped webhook on a v3 connection (check the app's webhook version)".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ids(w: &Webhook) -> Vec<u64> {
        w.record_ids.iter().map(|i| i.get()).collect()
    }

    fn tokens(w: &Webhook) -> Vec<String> {
        w.verify_tokens.iter().map(|t| t.expose().to_owned()).collect()
    }

    #[test]
    fn every_documented_event() {
        let order = json!({"event": "orderUpdate", "businessId": 64692, "data": {"info": {"id": 14903497, "status": 59}, "shippingAddress": {"id": "20184482"}}});
        let w = parse(Some("tok"), &order).unwrap();
        assert_eq!(
            (w.kind, ids(&w), w.business_id.map(|b| b.get()), w.unexpected.is_none()),
            (WebhookKind::OrderChanged, vec![14903497], Some(64692), true)
        );
        let partial = json!({"event": "orderPartialReturn", "businessId": 1, "data": {"info": {"id": 20}, "originalOrder": {"id": 10, "channel": {"appOrderId": "h"}}}});
        assert_eq!(ids(&parse(None, &partial).unwrap()), vec![10, 20]);
        let deleted = json!({"event": "orderDelete", "businessId": 1, "data": [12345, "12346"]});
        assert_eq!(
            (parse(None, &deleted).unwrap().kind, ids(&parse(None, &deleted).unwrap())),
            (WebhookKind::OrderDeleted, vec![12345, 12346])
        );
        let product = json!({"event": "productAdd", "businessId": 1, "data": {"id": 1231281071, "status": "2", "category": {"id": 12}}});
        assert_eq!(ids(&parse(None, &product).unwrap()), vec![1231281071]);
        let gone = json!({"event": "productDelete", "businessId": 1, "data": [100, 101]});
        assert_eq!(ids(&parse(None, &gone).unwrap()), vec![100, 101]);
        let stock = json!({"event": "inventoryChange", "businessId": 1, "data": [{"id": 5, "available": 1, "depots": [{"id": 1}]}]});
        assert_eq!(parse(None, &stock).unwrap().kind, WebhookKind::StockChanged);
        let probe = json!({"event": "webhooksEnabled"});
        let p = parse(Some("tok"), &probe).unwrap();
        assert_eq!((p.kind, p.business_id), (WebhookKind::WebhooksEnabled, None));
        let bye = json!({"event": "appUninstalled", "businessId": 64692});
        assert_eq!(parse(None, &bye).unwrap().kind, WebhookKind::AppUninstalled);
    }

    #[test]
    fn the_token_may_travel_in_the_header_raw_or_bearer_or_in_the_body() {
        let body = json!({"event": "webhooksEnabled"});
        assert_eq!(tokens(&parse(Some("abc"), &body).unwrap()), vec!["abc"]);
        assert_eq!(tokens(&parse(Some("Bearer abc"), &body).unwrap()), vec!["Bearer abc", "abc"]);
        assert_eq!(tokens(&parse(Some("bearer abc"), &body).unwrap()), vec!["bearer abc", "abc"]);
        let in_body = json!({"event": "webhooksEnabled", "webhooksVerifyToken": "xyz"});
        assert_eq!(tokens(&parse(None, &in_body).unwrap()), vec!["xyz"]);
        assert!(parse(None, &body).unwrap().verify_tokens.is_empty());
    }

    #[test]
    fn refusals_and_v2_payloads() {
        assert!(parse(None, &json!({"event": "orderAdd", "businessId": 1, "data": {}}))
            .unwrap_err()
            .0
            .contains("no record id"));
        assert!(parse(None, &json!({"event": "orderAdd", "data": {"info": {"id": 1}}}))
            .unwrap_err()
            .0
            .contains("businessId"));
        let v2 = json!({"event": "orderAdd", "businessId": 1, "webhooksVerifyToken": "t", "data": {"orderId": "101", "status": "New"}});
        let w = parse(None, &v2).unwrap();
        assert_eq!(ids(&w), vec![101]);
        assert!(w.unexpected.is_some(), "flagged, not mis-parsed");
    }

    proptest! {
        #[test]
        fn random_bodies_never_panic(event in prop_oneof![Just("orderAdd"), Just("orderDelete"), Just("productDelete"), Just("x")],
                                     data in prop_oneof![Just(json!(null)), Just(json!([1, "2", {"id": 3}, -4])), Just(json!({"info": {"id": "x"}})), any::<i64>().prop_map(|n| json!(n))],
                                     header in proptest::option::of(".{0,20}")) {
            let _ = parse(header.as_deref(), &json!({"event": event, "businessId": 1, "data": data}));
        }
    }
}
