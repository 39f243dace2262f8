//! The connect flow end to end: happy path, R1, R2, cookies and CSRF, access-code refusals,
//! permission probes, R4, disconnect/reconnect (R3), and secrets kept out of logs (R13).

use crate::helpers::{csrf_of, element_text, stack, random_u64, TestApp};
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
    assert_eq!(status["api_version"], "2.0");
    assert!(status["connected_at"].is_string());
    assert!(status["disconnected_at"].is_null());
    assert!(status["token_expires_at"].as_str().is_some_and(|t| t > "2027-"), "{status}");
    assert_eq!(status["token_warning"], false);
    assert_eq!(status["webhooks"]["url"], json!(webhook));
    assert_eq!(status["webhooks"]["live"], false);
    assert!(["due", "running", "done"].contains(&status["initial_sync"]["state"].as_str().unwrap_or_default()), "{status}");
    assert_eq!(status["streams"]["orders"]["applied"], 0);
    let text = status.to_string();
    assert!(!text.contains(&app.secret) && !text.contains(&verify), "status never carries a secret");
    for token in app.get_json(&format!("{}/_sim/tokens?business_id={}", stack().nhanh, app.business_id)).await["tokens"].as_array().unwrap() {
        assert!(!text.contains(token.as_str().unwrap()));
    }

    // The page, opened again, shows the same connection and token.
    let again = app.get(&app.page_url()).await;
    assert_eq!(element_text(&again.body, "verify-token").as_deref(), Some(verify.as_str()));
}

#[tokio::test]
async fn status_requires_the_service_token_or_the_admin_cookie() {
    let mut app = TestApp::new().await;
    app.connect().await;
    let anonymous = app.http.get(format!("{}/nhanhvn/connections/{}", stack().connector, app.account)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let wrong = app.http.get(format!("{}/nhanhvn/connections/{}", stack().connector, app.account))
        .header("authorization", "TOKEN nope").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
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
    let refused = second.get(&callback).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("đã được kết nối với một tài khoản Loyalty Hub khác"));
    assert!(!refused.body.contains(&first.account), "never names the other account");
    assert_eq!(second.status().await.0, 404);
    assert!(first.status().await.1["state"].as_str().is_some_and(|s| s == "syncing" || s == "active"));

    // Once the first account disconnects, the business is free.
    let page = first.get(&first.page_url()).await;
    let out = first.post_form(&format!("/nhanhvn/connect/{}/disconnect", first.account), &[("csrf_token", &csrf_of(&page.body))]).await;
    assert_eq!(out.status, 303);
    let (callback, _) = second.start_connect(&second.secret.clone()).await;
    assert_eq!(second.get(&callback).await.status, 200);
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
    assert_eq!(app.post_form(&format!("/nhanhvn/connect/{}", app.account), &[("app_id", "1"), ("secret_key", "x")]).await.status, 403);

    // The callback needs the cookie too.
    let (callback, _) = app.start_connect(&app.secret.clone()).await;
    app.cookie = None;
    assert_eq!(app.get(&callback).await.status, 401);
    assert_eq!(app.status().await.0, 404, "nothing stored");

    // Disconnect with a wrong CSRF token.
    let mut connected = TestApp::new().await;
    connected.connect().await;
    let r = connected.post_form(&format!("/nhanhvn/connect/{}/disconnect", connected.account), &[("csrf_token", "nope")]).await;
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
        app.get(&callback).await
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

    let out = app.post_form(&format!("/nhanhvn/connect/{}/disconnect", app.account), &[("csrf_token", &csrf_of(&first.body))]).await;
    assert_eq!(out.status, 303);
    let (_, status) = app.status().await;
    assert_eq!(status["state"], "disconnected");
    assert!(status["disconnected_at"].is_string());
    let page = app.get(&app.page_url()).await;
    assert!(page.body.contains("Kích hoạt") && page.body.contains("Đã ngừng kết nối"));
    let again = app.post_form(&format!("/nhanhvn/connect/{}/disconnect", app.account), &[("csrf_token", &csrf_of(&page.body))]).await;
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
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

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
