//! Routes of the `intake` function: `POST /nhanhvn/hook/{app_id}` and `POST /hub/hook/{account_id}`.

use super::http::{HttpRequest, HttpResponse};
use crate::services::intake::{IntakeError, IntakeService, Outcome};
use serde_json::json;

/// Routes one request.
pub async fn handle(service: &IntakeService, req: &HttpRequest) -> HttpResponse {
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let result = match (req.method.as_str(), segments.as_slice()) {
        ("POST", ["nhanhvn", "hook", app_id]) => {
            service.nhanh_webhook(app_id, req.header("authorization"), &req.body).await
        }
        ("POST", ["hub", "hook", account]) => {
            service.hub_event(account, req.header("x-hub-signature"), &req.body).await
        }
        (_, ["nhanhvn", "hook", _]) | (_, ["hub", "hook", _]) => return error(405, "method_not_allowed", "use POST"),
        _ => return error(404, "not_found", "no such route"),
    };
    match result {
        Ok(outcome) => {
            let queued = if let Outcome::Queued(n) = outcome { n } else { 0 };
            HttpResponse::json(200, &json!({"ok": true, "outcome": outcome.as_str(), "queued": queued}))
        }
        Err(IntakeError::TooLarge) => error(413, "payload_too_large", "body is larger than 256 KiB"),
        Err(IntakeError::Malformed(reason)) => error(400, "bad_request", &reason),
        Err(IntakeError::Unauthorized(reason)) => error(401, "unauthorized", reason),
        Err(IntakeError::Unavailable(e)) => {
            tracing::error!(error = %e, "event not queued; the sender will retry");
            error(503, "unavailable", "not queued, retry later")
        }
    }
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    let line = message.lines().next().unwrap_or_default();
    HttpResponse::json(status, &json!({"error": {"code": code, "message": line}}))
}
