//! The webhook sender: one delivery per subscribed app, retried, in the app's webhook version.

use super::*;

pub(super) fn hooks_for(sim: &NhanhSim) -> Vec<WebhookConfig> {
    sim.webhooks
        .values()
        .filter(|w| w.enabled)
        .cloned()
        .map(|mut w| {
            if w.version.is_none() {
                w.version = Some(v3::newest_token_version(sim, w.app_id));
            }
            w
        })
        .collect()
}

pub(super) async fn ctl_webhooks(State(state): State<Shared>, Json(cfg): Json<WebhookConfig>) -> Json<Value> {
    let (businesses, cfg) = {
        let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
        sim.webhooks.insert(cfg.app_id, cfg.clone());
        let cfg = hooks_for(&sim).into_iter().find(|h| h.app_id == cfg.app_id).unwrap_or(cfg);
        let b: Vec<u64> = sim
            .tokens
            .values()
            .filter(|t| t.app_id == cfg.app_id)
            .map(|t| t.business_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        (b, cfg)
    };
    if cfg.enabled {
        for b in businesses {
            send_event(&state, std::slice::from_ref(&cfg), b, "webhooksEnabled", json!({}));
        }
    }
    Json(json!({"ok": true}))
}

pub(super) async fn ctl_deliveries(State(state): State<Shared>) -> Json<Value> {
    let sim = state.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({"deliveries": sim.deliveries}))
}

/// Sends one webhook per app (only to apps whose token covers the business), retrying 3 times.
pub(super) fn send_event(state: &Shared, hooks: &[WebhookConfig], business_id: u64, event: &str, data: Value) {
    let delays = state.lock().map(|s| s.retry_delays_ms.clone()).unwrap_or_default();
    for hook in hooks {
        let covered = state
            .lock()
            .map(|s| s.tokens.values().any(|t| t.app_id == hook.app_id && t.business_id == business_id))
            .unwrap_or(false);
        if !covered {
            continue;
        }
        let (body, authorization) = match hook.version {
            Some(3) => {
                let shaped =
                    state.lock().map(|s| v3::webhook_data(&s, business_id, event, &data)).unwrap_or(Value::Null);
                v3::envelope(hook, business_id, event, shaped)
            }
            _ => (
                json!({"event": event, "businessId": business_id, "webhooksVerifyToken": hook.verify_token, "data": data}),
                None,
            ),
        };
        let url = hook.url.clone();
        let state = state.clone();
        let delays = delays.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for attempt in 0..=delays.len() {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(delays[attempt - 1])).await;
                }
                let mut request = client.post(&url);
                if let Some(auth) = &authorization {
                    request = request.header(header::AUTHORIZATION.as_str(), auth.as_str());
                }
                let status = request
                    .header(header::CONTENT_TYPE.as_str(), "application/json")
                    .body(body.to_string())
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                if let Ok(mut sim) = state.lock() {
                    sim.deliveries
                        .push(json!({"event": body["event"], "url": url, "attempt": attempt + 1, "status": status}));
                }
                if status == 200 {
                    break;
                }
            }
        });
    }
}
