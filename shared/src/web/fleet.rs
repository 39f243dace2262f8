//! `GET /nhanhvn/connections`: the fleet view for the Hub's operators (issue 24), with the
//! operators' credential (`Authorization: TOKEN <status token>`, the one of the status JSON). An
//! admin session of one account does not open it: it names every merchant.
//!
//! Query: `limit` (1–100, default 50) accounts per page, `after` (the `next` of the page before).

use super::http::{HttpRequest, HttpResponse};
use crate::secrets::SecretString;
use crate::services::connect::ConnectService;
use serde_json::json;

/// Accounts per page when `limit` is absent.
const DEFAULT_LIMIT: usize = 50;

/// Whether the request carries the operators' credential (`Authorization: TOKEN <status
/// token>`, compared in constant time): the status JSON and the fleet view accept it.
pub fn by_operator_token(status_token: &SecretString, req: &HttpRequest) -> bool {
    req.header("authorization").and_then(|h| h.strip_prefix("TOKEN ")).is_some_and(|t| status_token.ct_eq(t.trim()))
}

/// Answers the fleet view (401 without the credential, 400 on a bad `limit` or `after`).
pub async fn fleet(service: &ConnectService, status_token: &SecretString, req: &HttpRequest) -> HttpResponse {
    let err = |status: u16, code: &str, message: &str| {
        HttpResponse::json(status, &json!({"error": {"code": code, "message": message}}))
    };
    if !by_operator_token(status_token, req) {
        return err(401, "unauthorized", "the operators' status token is required");
    }
    let limit = match req.query("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=crate::services::fleet::MAX_PAGE).contains(&n) => n,
        Some(_) => return err(400, "bad_request", "limit must be a whole number from 1 to 100"),
    };
    let after = match req.query("after") {
        None => None,
        Some(a) => match crate::domain::AccountId::parse(a) {
            Ok(account) => Some(account.as_str().to_owned()),
            Err(_) => return err(400, "bad_request", "after must be an account id (the next of the page before)"),
        },
    };
    match service.fleet(after, limit).await {
        Ok(view) => HttpResponse::json(200, &view),
        Err(e) => {
            tracing::error!(error = %e, "fleet view read failed");
            err(503, "unavailable", "try again")
        }
    }
}
