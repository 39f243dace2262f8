//! Consent redirect, single-use 10-minute access codes and the v2 token exchange.

use super::*;

#[derive(Deserialize)]
pub(super) struct ConsentQuery {
    #[serde(rename = "appId")]
    app_id: Option<String>,
    #[serde(rename = "returnLink")]
    return_link: Option<String>,
}

pub(super) fn issue_code(sim: &mut NhanhSim, app_id: u64, business_id: u64) -> String {
    let code = random_text(16);
    let issued_at = sim.now();
    sim.codes.insert(code.clone(), Code { app_id, business_id, issued_at, used: false });
    code
}

pub(super) fn with_code(return_link: &str, code: &str) -> String {
    let sep = if return_link.contains('?') { '&' } else { '?' };
    format!("{return_link}{sep}accessCode={code}")
}

pub(super) async fn consent_page(State(state): State<Shared>, Query(q): Query<ConsentQuery>) -> Response {
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let app_id = q.app_id.as_deref().and_then(|a| a.parse::<u64>().ok());
    let (Some(app_id), Some(return_link)) = (app_id, q.return_link.clone()) else {
        return (StatusCode::BAD_REQUEST, "appId and returnLink are required").into_response();
    };
    let Some(app) = sim.apps.get(&app_id).cloned() else {
        return (StatusCode::BAD_REQUEST, "unknown appId").into_response();
    };
    if !app.redirect_urls.is_empty() && !app.redirect_urls.contains(&return_link) {
        return (StatusCode::BAD_REQUEST, "returnLink is not one of the app's Redirect URLs").into_response();
    }
    if let (true, Some(business)) = (app.auto_consent, app.business_id) {
        let code = issue_code(&mut sim, app_id, business);
        return Redirect::to(&with_code(&return_link, &code)).into_response();
    }
    let business = app.business_id.unwrap_or(1);
    let esc = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Nhanh.vn (simulator) · Cấp quyền</title></head><body>\
<h1>Nhanh.vn (simulator)</h1><p>Ứng dụng {app_id} xin quyền truy cập doanh nghiệp của bạn.</p>\
<form method=\"post\" action=\"/oauth/consent\"><input type=\"hidden\" name=\"appId\" value=\"{app_id}\">\
<input type=\"hidden\" name=\"returnLink\" value=\"{link}\"><label>Business Id <input name=\"businessId\" value=\"{business}\"></label>\
<label><input type=\"checkbox\" name=\"consent\" id=\"consent\" value=\"on\" required> Tôi đồng ý cấp quyền cho ứng dụng</label>\
<button type=\"submit\" id=\"agree\">Đồng ý</button></form></body></html>",
        link = esc(&return_link)
    ))
    .into_response()
}

pub(super) async fn consent_submit(State(state): State<Shared>, req: Request) -> Response {
    let f = fields(req).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let app_id = f.get("appId").and_then(|a| a.parse::<u64>().ok());
    let business = f.get("businessId").and_then(|a| a.parse::<u64>().ok());
    // Like Nhanh's page, consent is a box the merchant ticks: a form posted without it grants nothing.
    if f.get("consent").map(String::as_str) != Some("on") {
        return (StatusCode::BAD_REQUEST, "consent was not given").into_response();
    }
    match (app_id, business, f.get("returnLink")) {
        (Some(app_id), Some(business), Some(link)) if sim.apps.contains_key(&app_id) => {
            let code = issue_code(&mut sim, app_id, business);
            Redirect::to(&with_code(link, &code)).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "appId, businessId and returnLink are required").into_response(),
    }
}

pub(super) async fn access_token(State(state): State<Shared>, req: Request) -> Json<Value> {
    let f = fields(req).await;
    let mut sim = state.lock().unwrap_or_else(|e| e.into_inner());
    let now = sim.now();
    if f.get("version").map(String::as_str) != Some("2.0") {
        return fail(Some("ERR_INVALID_VERSION"), json!(["version must be 2.0"]));
    }
    let Some(app) = f.get("appId").and_then(|a| a.parse::<u64>().ok()).and_then(|a| sim.apps.get(&a).cloned()) else {
        return fail(Some("ERR_INVALID_APP_ID"), json!(["appId is invalid"]));
    };
    let code_text = f.get("accessCode").cloned().unwrap_or_default();
    let Some(code) = sim.codes.get(&code_text).cloned() else {
        return fail(None, json!(["accessCode is invalid"]));
    };
    if code.used || code.app_id != app.app_id {
        return fail(None, json!(["accessCode is invalid or already used"]));
    }
    if now - code.issued_at > 600 {
        return fail(None, json!(["accessCode has expired"]));
    }
    if f.get("secretKey") != Some(&app.secret_key) {
        return fail(None, json!(["secretKey is invalid"]));
    }
    if let Some(c) = sim.codes.get_mut(&code_text) {
        c.used = true;
    }
    let (token, expires_at) = mint_token(&mut sim, &app, code.business_id, 2);
    let expired = time::OffsetDateTime::from_unix_timestamp(expires_at + 7 * 3600)
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).ok())
        .unwrap_or_default();
    Json(json!({
        "code": 1, "accessToken": token, "expiredDateTime": expired, "expiredAt": expires_at,
        "businessId": code.business_id, "depotIds": [], "permissions": app.permissions,
    }))
}

/// Mints an access token of `version` for (app, business), valid a year; returns it and its expiry.
pub(super) fn mint_token(sim: &mut NhanhSim, app: &AppConfig, business_id: u64, version: u8) -> (String, i64) {
    let token = match version {
        2 => format!("{}{}", random_text(64), random_text(8)),
        _ => format!("{}{}", random_text(80), random_text(20)),
    };
    let expires_at = sim.now() + 365 * 86_400;
    let denied_paths = app.denied_paths.iter().cloned().collect();
    sim.tokens.insert(token.clone(), Token { app_id: app.app_id, business_id, expires_at, denied_paths, version });
    sim.businesses.entry(business_id).or_default();
    (token, expires_at)
}
