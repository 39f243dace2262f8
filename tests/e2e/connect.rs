//! The connect flow end to end: happy path, R1, R2, cookies and CSRF, access-code refusals,
//! permission probes, R4, disconnect/reconnect (R3), and secrets kept out of logs (R13).

use crate::helpers::{connected_on, csrf_of, element_text, random_u64, stack, Api, TestApp};
use serde_json::json;

#[tokio::test]
async fn happy_path_connects_and_reports_status() {
    let mut app = TestApp::new().await;
    let page = app.open_page().await;
    assert!(page.body.contains("Kích hoạt"));
    assert_eq!(element_text(&page.body, "account-id").as_deref(), Some(app.account.as_str()));
    let redirect = element_text(&page.body, "redirect-url").unwrap();
    assert_eq!(redirect, format!("{}/nhanhvn/connect/callback/{{app_id}}/{}", stack().connector, app.account));

    let done = app.connect().await;
    assert!(done.body.contains("Đã kết nối"));
    assert!(done.body.contains("Ngừng kết nối"));
    let webhook = element_text(&done.body, "webhook-url").unwrap();
    assert_eq!(webhook, format!("{}/nhanhvn/hook/{}", stack().connector, app.app_id));
    let verify = element_text(&done.body, "verify-token").unwrap();
    assert!(verify.len() >= 16 && verify.len() <= 128 && verify.chars().all(|c| c.is_ascii_alphanumeric()), "{verify}");

    let (code, status) = app.status().await;
    assert_eq!(code, 200, "{status}");
    // The first pass is queued at once: the (empty) initial sync may already be done.
    assert!(status["state"] == "syncing" || status["state"] == "active", "{status}");
    assert_eq!(status["app_id"], json!(app.app_id));
    assert_eq!(status["business_id"], json!(app.business_id));
    assert_eq!(status["api_version"], "3.0", "every new connection speaks v3 (R15)");
    assert_eq!(element_text(&done.body, "api-version").as_deref(), Some("3.0"));
    assert!(done.body.contains("Webhooks version 3.0"), "the page names the webhook version to pick");
    assert!(status["connected_at"].is_string());
    assert!(status["disconnected_at"].is_null());
    assert!(status["token_expires_at"].as_str().is_some_and(|t| t > "2027-"), "{status}");
    assert_eq!(status["token_warning"], false);
    assert_eq!(status["webhooks"]["url"], json!(webhook));
    assert_eq!(status["webhooks"]["live"], false);
    assert!(
        ["due", "running", "done"].contains(&status["initial_sync"]["state"].as_str().unwrap_or_default()),
        "{status}"
    );
    assert_eq!(status["streams"]["orders"]["applied"], 0);
    let text = status.to_string();
    assert!(!text.contains(&app.secret) && !text.contains(&verify), "status never carries a secret");
    for token in app.get_json(&format!("{}/_sim/tokens?business_id={}", stack().nhanh, app.business_id)).await["tokens"]
        .as_array()
        .unwrap()
    {
        assert!(!text.contains(token.as_str().unwrap()));
    }

    // The page, opened again, shows the same connection and token.
    let again = app.get(&app.page_url()).await;
    assert_eq!(element_text(&again.body, "verify-token").as_deref(), Some(verify.as_str()));
}

/// The status JSON takes its own credential (`STATUS_API_TOKEN`) or the admin cookie; the token
/// the connector presents to the Hub opens nothing here (issue 22: one secret per role).
#[tokio::test]
async fn status_requires_the_status_token_or_the_admin_cookie() {
    let mut app = TestApp::new().await;
    app.connect().await;
    let anonymous =
        app.http.get(format!("{}/nhanhvn/connections/{}", stack().connector, app.account)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    for token in ["nope", stack().service_token.as_str()] {
        let wrong = app
            .http
            .get(format!("{}/nhanhvn/connections/{}", stack().connector, app.account))
            .header("authorization", format!("TOKEN {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "a token other than the status token");
    }
    assert_eq!(app.status().await.0, 200, "the status token");
    let by_cookie = app.get(&format!("/nhanhvn/connections/{}", app.account)).await;
    assert_eq!(by_cookie.status, 200);
    let other = TestApp::new().await;
    assert_eq!(other.status().await.0, 404, "never connected");
}

#[tokio::test]
async fn second_account_cannot_take_a_connected_business() {
    let mut first = TestApp::new().await;
    first.connect().await;
    let mut second = TestApp::new().await;
    // Same business, another app of the second account's own.
    second.register_app(second.app_id, &second.secret.clone(), first.business_id, &[]).await;
    let (callback, _) = second.start_connect(&second.secret.clone()).await;
    let refused = second.finish(&callback).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("đã được kết nối với một tài khoản Loyalty Hub khác"));
    assert!(!refused.body.contains(&first.account), "never names the other account");
    assert_eq!(second.status().await.0, 404);
    assert!(first.status().await.1["state"].as_str().is_some_and(|s| s == "syncing" || s == "active"));

    // Once the first account disconnects, the business is free.
    let page = first.get(&first.page_url()).await;
    let out = first
        .post_form(&format!("/nhanhvn/connect/{}/disconnect", first.account), &[("csrf_token", &csrf_of(&page.body))])
        .await;
    assert_eq!(out.status, 303);
    let (callback, _) = second.start_connect(&second.secret.clone()).await;
    assert_eq!(second.finish(&callback).await.status, 200);
}

#[tokio::test]
async fn only_admins_of_the_account_may_open_the_page() {
    let mut app = TestApp::new().await;
    let staff = format!("staff-{:x}", random_u64());
    app.add_session(&staff, &app.account.clone(), "staff").await;
    let r = app.open_with_session(&staff).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("admin"));
    assert!(r.set_cookie.is_none());

    let other_admin = format!("other-{:x}", random_u64());
    app.add_session(&other_admin, "another-account", "admin").await;
    assert_eq!(app.open_with_session(&other_admin).await.status, 403);
    assert_eq!(app.open_with_session("not-a-session").await.status, 401);
}

#[tokio::test]
async fn missing_or_forged_cookie_or_csrf_is_refused() {
    let mut app = TestApp::new().await;
    // No cookie at all.
    assert_eq!(app.get(&app.page_url()).await.status, 401);
    let page = app.open_page().await;
    let csrf = csrf_of(&page.body);
    let real_cookie = app.cookie.clone().unwrap();

    // Forged cookie: another account in the payload with the real signature.
    let (_, sig) = real_cookie.split_once('.').unwrap();
    app.cookie = Some(format!("nhanhvn_admin=dDF8dS1hZG1pbnw5OTk5OTk5OTk5.{sig}"));
    assert_eq!(app.get(&app.page_url()).await.status, 401);
    assert_eq!(app.activate(&csrf, app.app_id, &app.secret).await.status, 401);

    // A cookie of this account used for another account's page.
    app.cookie = Some(real_cookie.clone());
    assert_eq!(app.get(&format!("{}/nhanhvn/connect/other-account", stack().connector)).await.status, 401);

    // Right cookie, wrong or missing CSRF token.
    assert_eq!(app.activate("forged", app.app_id, &app.secret).await.status, 403);
    assert_eq!(
        app.post_form(&format!("/nhanhvn/connect/{}", app.account), &[("app_id", "1"), ("secret_key", "x")])
            .await
            .status,
        403
    );

    // The callback needs the cookie too.
    let (callback, _) = app.start_connect(&app.secret.clone()).await;
    app.cookie = None;
    assert_eq!(app.get(&callback).await.status, 401);
    assert_eq!(app.status().await.0, 404, "nothing stored");

    // Disconnect with a wrong CSRF token.
    let mut connected = TestApp::new().await;
    connected.connect().await;
    let r = connected
        .post_form(&format!("/nhanhvn/connect/{}/disconnect", connected.account), &[("csrf_token", "nope")])
        .await;
    assert_eq!(r.status, 403);
    assert_ne!(connected.status().await.1["state"], "disconnected");
}

#[tokio::test]
async fn replayed_or_expired_access_codes_are_refused() {
    let mut app = TestApp::new().await;
    let secret = app.secret.clone();
    let (first_callback, _) = app.start_connect(&secret).await;
    assert_eq!(app.get(&first_callback).await.status, 200);
    // A new attempt, but the browser replays the old (already exchanged) code.
    app.start_connect(&secret).await;
    let replay = app.get(&first_callback).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("accessCode"));

    let mut late = TestApp::new().await;
    let (callback, _) = late.start_connect(&late.secret.clone()).await;
    late.post_json(&format!("{}/_sim/codes/age", stack().nhanh), json!({"app_id": late.app_id, "secs": 601})).await;
    let expired = late.get(&callback).await;
    assert_eq!(expired.status, 400, "{}", expired.body);
    assert!(expired.body.contains("10 phút"));
    assert_eq!(late.status().await.0, 404);

    // A callback without any pending attempt.
    let mut stray = TestApp::new().await;
    stray.open_page().await;
    let r = stray.get(&format!("/nhanhvn/connect/callback/{}/{}?accessCode=abc", stray.app_id, stray.account)).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn wrong_secret_key_is_refused_with_a_hint() {
    let mut app = TestApp::new().await;
    let (callback, _) = app.start_connect("not-the-secret").await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("Secret Key"));
    assert_eq!(app.status().await.0, 404);
}

#[tokio::test]
async fn a_stream_answering_err_403_refuses_the_connection() {
    let mut app = TestApp::new().await;
    app.register_app(app.app_id, &app.secret.clone(), app.business_id, &["/api/order/index"]).await;
    let done = {
        let secret = app.secret.clone();
        let (callback, _) = app.start_connect(&secret).await;
        app.finish(&callback).await
    };
    assert_eq!(done.status, 403, "{}", done.body);
    assert!(done.body.contains("đơn hàng (orders)"));
    assert!(!done.body.contains("sản phẩm (products)"));
    assert_eq!(app.status().await.0, 404, "nothing stored");
}

#[tokio::test]
async fn details_are_frozen_while_the_initial_sync_runs() {
    let mut app = TestApp::new().await;
    // The queue is not read meanwhile, so the initial sync cannot finish during the checks.
    crate::helpers::with_collector_paused(async {
        let page = app.connect().await;
        let csrf = csrf_of(&page.body);
        let changed = app.activate(&csrf, app.app_id, "another-secret").await;
        assert_eq!(changed.status, 409, "{}", changed.body);
        assert!(changed.body.contains("đồng bộ lần đầu"));
        let other_app = app.activate(&csrf, app.app_id + 1, &app.secret).await;
        assert_eq!(other_app.status, 409);
        let same = app.activate(&csrf, app.app_id, &app.secret).await;
        assert_eq!(same.status, 303, "re-consent with the same details is allowed");
    })
    .await;
}

#[tokio::test]
async fn disconnect_then_reconnect_starts_a_new_period() {
    let mut app = TestApp::new().await;
    let first = app.connect().await;
    let first_token = element_text(&first.body, "verify-token").unwrap();
    let connected_at = app.status().await.1["connected_at"].as_str().unwrap().to_owned();

    let out = app
        .post_form(&format!("/nhanhvn/connect/{}/disconnect", app.account), &[("csrf_token", &csrf_of(&first.body))])
        .await;
    assert_eq!(out.status, 303);
    let (_, status) = app.status().await;
    assert_eq!(status["state"], "disconnected");
    assert!(status["disconnected_at"].is_string());
    let page = app.get(&app.page_url()).await;
    assert!(page.body.contains("Kích hoạt") && page.body.contains("Đã ngừng kết nối"));
    let again = app
        .post_form(&format!("/nhanhvn/connect/{}/disconnect", app.account), &[("csrf_token", &csrf_of(&page.body))])
        .await;
    assert_eq!(again.status, 409, "already disconnected");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = app.connect().await;
    let (_, status) = app.status().await;
    assert!(status["state"] == "syncing" || status["state"] == "active", "{status}");
    assert!(status["connected_at"].as_str().unwrap() > connected_at.as_str(), "a new connected period");
    assert_ne!(element_text(&second.body, "verify-token").unwrap(), first_token);
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let mut app = TestApp::new().await;
    app.connect().await;
    // A failed attempt with another secret must not log it either.
    let mut failing = TestApp::new().await;
    let (callback, _) = failing.start_connect("wrong-secret-value-123").await;
    failing.get(&callback).await;
    // The positive signal: the failed attempt's own log lines are there.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !app.logs().contains(&failing.account) {
        assert!(std::time::Instant::now() < deadline, "the failed attempt was never logged");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let logs = app.logs();
    assert!(logs.contains(&app.account), "the stack's logs are readable and carry account ids");
    assert!(!logs.contains(&app.secret), "Secret Key in a log line");
    assert!(!logs.contains("wrong-secret-value-123"), "a wrong Secret Key in a log line");
    let tokens = app.get_json(&format!("{}/_sim/tokens?business_id={}", stack().nhanh, app.business_id)).await;
    let tokens = tokens["tokens"].as_array().unwrap();
    assert!(!tokens.is_empty());
    for t in tokens {
        assert!(!logs.contains(t.as_str().unwrap()), "access token in a log line");
    }
    assert!(!logs.contains(&app.session), "Hub session token in a log line");
}

#[tokio::test]
async fn a_new_connection_talks_only_v3_to_nhanh() {
    let mut app = TestApp::new().await;
    app.post_json(
        &format!("{}/_sim/businesses/{}/products", stack().nhanh, app.business_id),
        json!({"idNhanh": 4101, "name": "Áo", "price": "1000"}),
    )
    .await;
    let consent = {
        let page = app.open_page().await;
        let act = app.activate(&csrf_of(&page.body), app.app_id, &app.secret.clone()).await;
        act.location.expect("redirect to Nhanh")
    };
    assert!(consent.contains("version=3.0"), "{consent}");
    let callback = app.consent(&consent).await;
    assert_eq!(app.finish(&callback).await.status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while app.status().await.1["initial_sync"]["state"] != "done" {
        assert!(std::time::Instant::now() < deadline, "the initial sync did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let calls = app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, app.app_id)).await;
    let paths: Vec<&str> = calls["calls"].as_array().unwrap().iter().filter_map(|c| c["path"].as_str()).collect();
    assert!(!paths.is_empty() && paths.iter().all(|p| p.starts_with("/v3.0/")), "{paths:?}");
}

#[tokio::test]
async fn connecting_again_moves_a_v2_connection_to_v3_and_keeps_its_period_maps_and_token() {
    let (mut app, token) = connected_on(Api::V2, Some(true)).await;
    let (_, before) = app.status().await;
    assert_eq!(before["api_version"], "2.0");
    let page = app.get(&app.page_url()).await;
    assert!(
        page.body.contains("id=\"version-warning\"") && page.body.contains("Kích hoạt"),
        "a v2 connection is offered the move"
    );
    let hub = |app: &TestApp| {
        let url = format!("{}/_sim/accounts/{}", stack().hub, app.account);
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let product = |name: &str| json!({"idNhanh": 4201, "name": name, "price": "1000", "status": "Active"});
    app.post_json(&format!("{}/_sim/businesses/{}/products", stack().nhanh, app.business_id), product("Mũ")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while hub(&app).await["products"].as_array().map_or(0, Vec::len) != 1 {
        assert!(std::time::Instant::now() < deadline, "the product never reached the Hub over v2");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    let again = app.connect().await;
    let (_, after) = app.status().await;
    assert_eq!(after["api_version"], "3.0", "{after}");
    assert_eq!(after["connected_at"], before["connected_at"], "R15 keeps the connected period");
    assert_eq!(element_text(&again.body, "verify-token").as_deref(), Some(token.as_str()), "and the verify token");
    assert!(!again.body.contains("version-warning"));
    // The app now sends v3 webhooks; the same Hub product is updated (id maps kept).
    app.post_json(&format!("{}/_sim/webhooks", stack().nhanh), json!({
        "app_id": app.app_id, "url": format!("{}/nhanhvn/hook/{}", stack().connector, app.app_id), "verify_token": token, "version": 3})).await;
    app.post_json(&format!("{}/_sim/businesses/{}/products", stack().nhanh, app.business_id), product("Mũ len")).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let products = hub(&app).await["products"].as_array().cloned().unwrap_or_default();
        if products.iter().any(|p| p["name"] == "Mũ len") {
            assert_eq!(products.len(), 1, "{products:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the v3 update never reached the Hub: {products:?}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let calls = app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, app.app_id)).await;
    let paths: Vec<&str> = calls["calls"].as_array().unwrap().iter().filter_map(|c| c["path"].as_str()).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("/api/")) && paths.last().is_some_and(|p| p.starts_with("/v3.0/")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn app_uninstalled_ends_the_connection_and_the_status_says_why() {
    let (app, _) = connected_on(Api::V3, Some(true)).await;
    app.post_json(
        &format!("{}/_sim/apps/{}/uninstall", stack().nhanh, app.app_id),
        json!({"business_id": app.business_id}),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, status) = app.status().await;
        if status["state"] == "disconnected" {
            assert_eq!(status["disconnect_reason"], "app_uninstalled", "{status}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "appUninstalled did not end the connection: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let page = app.get(&app.page_url()).await;
    assert!(page.body.contains("appUninstalled") && page.body.contains("Kích hoạt"), "{}", page.body);
}
