//! Issue 22: the connector's own secrets live in Secrets Manager. The Hub webhook secret rotates
//! without a redeploy: after `put-secret-value`, intake accepts events signed with the new value
//! (read again on the first mismatch) and, during the rotation, with the previous one.

use crate::helpers::{aws_sdk, now_rfc3339, stack, stack_env, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

fn sign(secret: &str, body: &str) -> String {
    shared::services::intake::hub_signature(&shared::secrets::SecretString::new(secret), body.as_bytes())
}

#[tokio::test]
async fn the_hub_webhook_secret_rotates_without_a_redeploy() {
    let env = stack_env();
    let secret_id = env.get("HubWebhookSigningSecret").cloned().expect("the stack's secret id");
    let original = env.get("HUB_WEBHOOK_SECRET").cloned().expect("the stack's secret value");
    let app = TestApp::new().await;
    let url = format!("{}/hub/hook/{}", stack().connector, app.account);
    let event = |id: &str| {
        json!({"event": "customer.deleted", "account_id": app.account, "occurred_at": now_rfc3339(), "data": {"id": id}})
            .to_string()
    };
    let post = |secret: String, body: String| {
        let req = app.http.post(&url).header("content-type", "application/json");
        async move { req.header("x-hub-signature", sign(&secret, &body)).body(body).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(post(original.clone(), event("r-0")).await, 200, "the deployed secret");
    let rotated = format!("rotated-hub-webhook-secret-{:x}", crate::helpers::random_u64());
    let sm = aws_sdk_secretsmanager::Client::new(&aws_sdk().await);
    sm.put_secret_value().secret_id(&secret_id).secret_string(&rotated).send().await.expect("rotate");
    // The first event with the new secret makes intake read it again, at most once per 10 s: a
    // refusal before that is the bound, so the Hub's retry (here, the loop) gets through.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match post(rotated.clone(), event("r-1")).await {
            200 => break,
            401 if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(500)).await,
            other => panic!("the rotated secret was not accepted: {other}"),
        }
    }
    assert_eq!(post(original.clone(), event("r-2")).await, 200, "the previous secret, during the rotation");
    assert_eq!(post("never-a-version-of-it".into(), event("r-3")).await, 401);
}
