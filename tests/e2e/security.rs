//! The security list of `make measure` (issue 14, S4), ignored by `make test` (whose own tests
//! cover each case apart): every attack below is refused with a 4xx, queues nothing, and no
//! secret of the run appears in any log line. One row per case lands in `security.json`.
//!
//! "Queues nothing" is read after a positive signal: a valid marker webhook of each account sent
//! after the attacks must be the only message the queue carried for it.

use crate::helpers::*;
use crate::measure::write;
use serde_json::{json, Value};

/// Path parameter values an attacker tries: traversal, SQL and template injection, markup, header
/// splitting, a NUL, and an overlong one.
const HOSTILE: [&str; 9] = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "1%27%20OR%20%271%27%3D%271",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "%24%7Bjndi%3Aldap%3A%2F%2Fx%7D",
    "x%0D%0ASet-Cookie%3A%20pwned%3D1",
    "%00",
    "t1%3B%20DROP%20TABLE%20x",
    "",
];

/// Every route of template.yaml with a path parameter, `{p}` standing for each parameter in turn.
const ROUTES: [(&str, &str); 13] = [
    ("GET", "/nhanhvn/connect/{p}"),
    ("POST", "/nhanhvn/connect/{p}"),
    ("GET", "/nhanhvn/connect/callback/{p}/{account}"),
    ("GET", "/nhanhvn/connect/callback/{app}/{p}"),
    ("POST", "/nhanhvn/connect/callback/{p}/{account}"),
    ("POST", "/nhanhvn/connect/callback/{app}/{p}"),
    ("POST", "/nhanhvn/connect/{p}/disconnect"),
    ("POST", "/nhanhvn/connect/{p}/retry"),
    ("POST", "/nhanhvn/connect/{p}/sync"),
    ("POST", "/nhanhvn/connect/{p}/dead-letters/retry"),
    ("GET", "/nhanhvn/connections/{p}"),
    ("POST", "/nhanhvn/hook/{p}"),
    ("POST", "/hub/hook/{p}"),
];

struct Case {
    name: String,
    status: u16,
    refused: bool,
}

fn case(name: impl Into<String>, status: u16, allowed: &[u16]) -> Case {
    Case { name: name.into(), status, refused: allowed.contains(&status) }
}

/// Sends one request with `path` exactly as written, over a plain socket: an HTTP client library
/// normalises it first (the URL standard turns `%2e%2e` into `..` and removes it with the segment
/// before), so the connector would never see the attack. Returns the status, the head and the body.
async fn raw_request(method: &str, path: &str, cookie: Option<&str>) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = stack().connector.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.expect("connect to the stack");
    let cookie = cookie.map(|c| format!("Cookie: {c}\r\n")).unwrap_or_default();
    let body = if method == "GET" { "" } else { "{}" };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer.as_str(), ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// `path` with its `%2e%2e` segment and the segment before it removed (RFC 3986 § 5.2.4).
fn resolve_dot_segment(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        if segment.eq_ignore_ascii_case("%2e%2e") {
            out.pop();
        } else {
            out.push(segment);
        }
    }
    out.join("/")
}

fn signed(body: &str) -> String {
    let secret = shared::secrets::SecretString::new(stack_env().get("HUB_WEBHOOK_SECRET").cloned().unwrap_or_default());
    shared::services::intake::hub_signature(&secret, body.as_bytes())
}

fn order_hook(business: u64, id: u64) -> Value {
    json!({"event": "orderAdd", "businessId": business, "data": {"info": {"id": id}}})
}

#[tokio::test]
#[ignore = "make measure"]
async fn security_list_is_refused_queues_nothing_and_logs_no_secret() {
    let (mut a, token_a) = connected(None).await;
    let (b, token_b) = connected(None).await;
    let hook_a = format!("{}/nhanhvn/hook/{}", stack().connector, a.app_id);
    let post_hook = |token: &str, body: Value| a.http.post(&hook_a).header("authorization", token).json(&body).send();
    let mut cases = Vec::new();

    let status = post_hook("wrong-verify-token-0000", order_hook(a.business_id, 1)).await.unwrap().status().as_u16();
    cases.push(case("wrong verify token", status, &[401]));
    let status = post_hook(&token_b, order_hook(a.business_id, 1)).await.unwrap().status().as_u16();
    cases.push(case("another tenant's verify token", status, &[401]));
    let huge = vec![b' '; 256 * 1024 + 1];
    let status = a.http.post(&hook_a).header("authorization", &token_a).body(huge.clone()).send().await.unwrap();
    cases.push(case("oversized Nhanh webhook body", status.status().as_u16(), &[413]));

    let hub_hook = format!("{}/hub/hook/{}", stack().connector, a.account);
    let event = |at: String| {
        json!({"event": "customer.created", "account_id": a.account, "occurred_at": at,
            "data": {"id": "c-sec", "name": "Lan", "phone": "0912345678", "email": null, "gender": null, "birthday": null,
                "address": null, "origin": "hub"}})
        .to_string()
    };
    let fresh = event(now_rfc3339());
    let post_hub = |body: String, signature: String| {
        a.http
            .post(&hub_hook)
            .header("content-type", "application/json")
            .header("x-hub-signature", signature)
            .body(body)
            .send()
    };
    let forged = format!("sha256={}", "0".repeat(64));
    cases.push(case("forged Hub signature", post_hub(fresh.clone(), forged).await.unwrap().status().as_u16(), &[401]));
    let stale = event("2026-01-01T00:00:00Z".into());
    let status = post_hub(stale.clone(), signed(&stale)).await.unwrap().status().as_u16();
    cases.push(case("replayed Hub event (a valid signature of an old event)", status, &[401]));
    let status = a
        .http
        .post(&hub_hook)
        .header("x-hub-signature", signed("x"))
        .body(vec![b' '; 256 * 1024 + 1])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    cases.push(case("oversized Hub event body", status, &[413]));

    let mut staff = TestApp::new().await;
    let staff_session = format!("staff-{:x}", random_u64());
    staff.add_session(&staff_session, &staff.account.clone(), "staff").await;
    cases.push(case("non-admin connect", staff.open_with_session(&staff_session).await.status, &[403]));

    let mut forger = TestApp::new().await;
    forger.open_page().await;
    let forged_callback =
        format!("/nhanhvn/connect/callback/{}/{}?accessCode=forged-code", forger.app_id, forger.account);
    cases.push(case("forged callback", forger.get(&forged_callback).await.status, &[400, 401, 403]));
    let mut replayer = TestApp::new().await;
    let secret = replayer.secret.clone();
    let (first_callback, _) = replayer.start_connect(&secret).await;
    assert_eq!(replayer.finish(&first_callback).await.status, 200, "the first use of the code connects");
    replayer.start_connect(&secret).await;
    cases.push(case("replayed access code", replayer.get(&first_callback).await.status, &[400]));

    // Issue 22: a callback URL with an attacker's access code binds nothing; no credential but
    // the status token opens the status; the Hub token mints no admin cookie; intake's role may
    // not decrypt a Secret Key.
    let mut victim = TestApp::new().await;
    victim.start_connect(&victim.secret.clone()).await;
    let attackers = crate::confirm::attackers_callback(&victim, 9_100_000 + random_u64() % 800_000).await;
    assert_eq!(victim.get(&attackers).await.status, 200, "the confirmation page, naming the attacker's business");
    let bound = victim.status().await.0;
    cases.push(case("callback with an attacker's access code (the account stays unbound)", bound, &[404]));
    let status_url = format!("{}/nhanhvn/connections/{}", stack().connector, a.account);
    for (what, credential) in [
        ("forged status credential", format!("TOKEN forged-{:x}", random_u64())),
        ("the Hub service token as the status credential", format!("TOKEN {}", stack().service_token)),
    ] {
        let status = a.http.get(&status_url).header("authorization", credential).send().await.unwrap().status();
        cases.push(case(what, status.as_u16(), &[401]));
    }
    let minted = shared::web::cookie::CookieSigner::new(&shared::secrets::SecretString::new(&stack().service_token))
        .issue(
            &shared::domain::AccountId::parse(&a.account).unwrap(),
            "u-admin",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        );
    let cookie = format!("{}={minted}", shared::web::cookie::COOKIE_NAME);
    let (status, _, _) = raw_request("GET", &format!("/nhanhvn/connect/{}", a.account), Some(&cookie)).await;
    cases.push(case("an admin cookie minted with the Hub service token", status, &[401]));
    // moto does not enforce IAM: the template's role and key policies decide, evaluated by
    // scripts/check_iam.py against the context intake would send.
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let context = format!("acct/{}/secret_key", a.account);
    let evaluated = std::process::Command::new(format!("{root}/.tools/venv/bin/python"))
        .current_dir(&root)
        .args(["scripts/check_iam.py", "template.yaml", "--can", "intake", "kms:Decrypt", &context])
        .output()
        .expect("the tools' python");
    let status = if evaluated.status.code() == Some(1) { 403 } else { 200 };
    cases.push(case("intake decrypting a Secret Key (KMS context conditions)", status, &[403]));

    // The admin's own cookie: a hostile path parameter is refused for what it is, not for a login.
    a.open_page().await;
    let mut resolved_by_front = Vec::new();
    for (method, route) in ROUTES {
        for hostile in HOSTILE {
            let path =
                route.replace("{p}", hostile).replace("{account}", &a.account).replace("{app}", &a.app_id.to_string());
            let (status, head, body) = raw_request(method, &path, a.cookie.as_deref()).await;
            let injected_header = head.lines().any(|l| l.to_ascii_lowercase().starts_with("set-cookie: pwned"));
            let mut row = case(format!("{method} {route} with {hostile:?}"), status, &[400, 401, 403, 404, 405, 413]);
            row.refused &= !injected_header && !body.contains("<script>alert(1)");
            if !row.refused && hostile == "%2e%2e" {
                // The local front (cargo lambda watch) resolves a dot segment before the connector
                // sees the path (the connector's own unit test refuses it as written). No bypass when
                // asking for the resolved path directly answers the same.
                let resolved = resolve_dot_segment(&path);
                if raw_request(method, &resolved, a.cookie.as_deref()).await.0 == status {
                    resolved_by_front.push(format!("{method} {path} → {resolved}: {status}"));
                    row.refused = true;
                }
            }
            cases.push(row);
        }
    }

    // The positive signal: one valid marker per account, sent after every attack, is all the
    // queue carried for each.
    for (app, token, id) in [(&a, &token_a, 990_001u64), (&b, &token_b, 990_002)] {
        let url = format!("{}/nhanhvn/hook/{}", stack().connector, app.app_id);
        let r = app
            .http
            .post(&url)
            .header("authorization", token.as_str())
            .json(&order_hook(app.business_id, id))
            .send()
            .await;
        assert_eq!(r.unwrap().status().as_u16(), 200, "the marker webhook is accepted");
    }
    let queued_a = messages_of(&a.account, 1, std::time::Duration::from_millis(1500)).await;
    let queued_b = messages_of(&b.account, 1, std::time::Duration::from_millis(500)).await;
    let queued_by_attacks = queued_a.len() + queued_b.len() - 2;

    let logs = a.logs();
    let mut secrets: Vec<(&str, String)> = vec![
        ("Nhanh Secret Key", a.secret.clone()),
        ("Nhanh Secret Key", b.secret.clone()),
        ("verify token", token_a.clone()),
        ("verify token", token_b.clone()),
        ("a guessed verify token", "wrong-verify-token-0000".into()),
        ("Hub session", a.session.clone()),
        ("Hub session", staff_session.clone()),
        ("Hub webhook secret", stack_env().get("HUB_WEBHOOK_SECRET").cloned().unwrap_or_default()),
        ("Hub service token", stack().service_token.clone()),
        ("status token", stack().status_token.clone()),
    ];
    for business in [a.business_id, b.business_id, replayer.business_id] {
        let tokens = a.get_json(&format!("{}/_sim/tokens?business_id={business}", stack().nhanh)).await;
        for t in tokens["tokens"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            secrets.push(("Nhanh access token", t.to_owned()));
        }
    }
    let leaked: Vec<&str> =
        secrets.iter().filter(|(_, s)| s.len() >= 8 && logs.contains(s.as_str())).map(|(what, _)| *what).collect();

    let refused = cases.iter().filter(|c| c.refused).count();
    let not_refused: Vec<String> =
        cases.iter().filter(|c| !c.refused).map(|c| format!("{} → {}", c.name, c.status)).collect();
    write(
        "security",
        &json!({"cases": cases.len(), "refused": refused, "not_refused": not_refused,
            "queued_by_attacks": queued_by_attacks, "secrets_checked": secrets.len(), "secrets_in_logs": leaked,
            "resolved_by_front": resolved_by_front,
            "log_bytes": logs.len()}),
    );
    assert!(not_refused.is_empty(), "not refused: {not_refused:#?}");
    assert_eq!(queued_by_attacks, 0, "the attacks queued messages");
    assert!(leaked.is_empty(), "secrets in the logs: {leaked:?}");
}
