//! Issue 22 end to end: the callback binds nothing until the admin who started the attempt
//! confirms the business it names, and a refused claim of a held business does not take the
//! holder's token down (the simulator's 15-minute rule, its clock advanced for the app's tokens).

use crate::helpers::{element_text, random_u64, stack, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The callback URL of an access code the attacker consented for `business` with the merchant's
/// app (a Nhanh app can be consented by any business), sent to the merchant's Redirect URL.
pub(crate) async fn attackers_callback(merchant: &TestApp, business: u64) -> String {
    let return_link =
        format!("{}/nhanhvn/connect/callback/{}/{}", stack().connector, merchant.app_id, merchant.account);
    let consented = merchant
        .http
        .post(format!("{}/oauth/consent", stack().nhanh))
        .form(&[
            ("appId", merchant.app_id.to_string()),
            ("businessId", business.to_string()),
            ("returnLink", return_link),
            ("consent", "on".to_owned()),
        ])
        .send()
        .await
        .expect("consent");
    consented.headers().get("location").and_then(|v| v.to_str().ok()).expect("redirect with a code").to_owned()
}

#[tokio::test]
async fn a_callback_with_another_business_code_binds_nothing_until_the_admin_confirms_it() {
    let mut merchant = TestApp::new().await;
    // The admin starts a connect (the attempt is pending) …
    merchant.start_connect(&merchant.secret.clone()).await;
    // … and opens a callback URL the attacker consented with their own business.
    let attacker_business = 9_000_000 + random_u64() % 900_000;
    let callback = attackers_callback(&merchant, attacker_business).await;
    let shown = merchant.get(&callback).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(element_text(&shown.body, "confirm-business-id"), Some(attacker_business.to_string()));
    assert_eq!(element_text(&shown.body, "confirm-account-id").as_deref(), Some(merchant.account.as_str()));
    let depots = element_text(&shown.body, "confirm-depots").unwrap_or_default();
    assert!(depots.contains(&format!("Kho DN {attacker_business}")), "named from Nhanh's business/depot: {depots}");
    assert_eq!(merchant.status().await.0, 404, "nothing is connected by opening the callback");

    // Another admin of the account cannot confirm the attempt.
    let other = format!("other-admin-{:x}", random_u64());
    merchant
        .post_json(
            &format!("{}/_sim/sessions", stack().hub),
            json!({"token": other, "account_id": merchant.account, "user_id": "u-another-admin", "role": "admin"}),
        )
        .await;
    let mut colleague = TestApp {
        http: merchant.http.clone(),
        account: merchant.account.clone(),
        app_id: merchant.app_id,
        business_id: merchant.business_id,
        secret: merchant.secret.clone(),
        session: other.clone(),
        cookie: None,
    };
    assert_eq!(colleague.open_with_session(&other).await.status, 303);
    let page = colleague.get(&colleague.page_url()).await;
    let path = format!("/nhanhvn/connect/callback/{}/{}", merchant.app_id, merchant.account);
    let by_colleague = colleague.post_form(&path, &[("csrf_token", &crate::helpers::csrf_of(&page.body))]).await;
    assert_eq!(by_colleague.status, 403, "{}", by_colleague.body);
    assert_eq!(merchant.status().await.0, 404);

    // The merchant's own admin, seeing a business that is not theirs, presses Hủy: still nothing.
    assert_eq!(element_text(&shown.body, "cancel").as_deref(), Some("Hủy"));
    assert_eq!(merchant.status().await.0, 404);
}

#[tokio::test]
async fn a_refused_claim_hands_the_newer_token_to_the_holder() {
    let (holder, _) = crate::helpers::connected(Some(true)).await;
    holder.status_until(60, "the holder's initial sync", |s| s["initial_sync"]["state"] == "done").await;
    // Another account connects the same app and business: R1 refuses it after the exchange.
    let mut other = TestApp::new().await;
    other.app_id = holder.app_id;
    other.secret = holder.secret.clone();
    other.business_id = holder.business_id;
    let (callback, _) = other.start_connect(&other.secret.clone()).await;
    let refused = other.finish(&callback).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("đã được kết nối với một tài khoản Loyalty Hub khác"), "{}", refused.body);
    assert_eq!(other.status().await.0, 404);

    // 16 minutes later for the app's tokens: Nhanh has let the superseded one die.
    let aged = holder
        .post_json(&format!("{}/_sim/tokens/age", stack().nhanh), json!({"app_id": holder.app_id, "secs": 16 * 60}))
        .await;
    assert!(aged["aged"].as_u64().unwrap_or_default() >= 2, "{aged}");
    // A new order still reaches the Hub: the holder calls Nhanh with the newer token.
    let id = 700_000 + random_u64() % 99_999;
    holder
        .post_json(
            &format!("{}/_sim/businesses/{}/orders", stack().nhanh, holder.business_id),
            json!({"id": id, "statusCode": "New", "customerName": "Phạm Minh", "customerMobile": "0912345000",
                "customerShipFee": "0", "products": [{"productId": "9001", "productName": "Bánh", "price": "20000", "quantity": "1"}]}),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let hub = holder.get_json(&format!("{}/_sim/accounts/{}", stack().hub, holder.account)).await;
        let orders: Vec<Value> = hub["orders"].as_array().cloned().unwrap_or_default();
        if orders.iter().any(|o| o["code"] == json!(id.to_string())) {
            break;
        }
        // The status is read only when it explains a failure.
        if Instant::now() >= deadline {
            let (_, status) = holder.status().await;
            assert_ne!(status["state"], "needs_reauth", "the holder lost its token: {status}");
            panic!("the order never reached the Hub; status {status}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_ne!(holder.status().await.1["state"], "needs_reauth");
}
