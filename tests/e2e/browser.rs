//! The connect and connection pages in headless Chromium: the session redirect sets the cookie,
//! the pages render without JavaScript, and the connection page shows what the status holds.

use crate::helpers::{stack, TestApp};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the screenshots of the connection page go (`make test` keeps them; `docs/` holds the
/// ones the README shows).
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.stack/screenshots")
}

fn chromium_args(profile: &std::path::Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

/// The connection page of `app` as Chromium renders it (through the Hub's session link, so
/// Chromium holds the cookie itself); also saved as screenshots `{name}-desktop.png` and
/// `{name}-phone.png` when `name` is given.
pub async fn rendered_page(app: &TestApp, name: Option<&str>) -> String {
    let url = format!("{}/nhanhvn/connect/{}?session={}", stack().connector, app.account, app.session);
    let profile = std::env::temp_dir().join(format!("chromium-page-{}-{}", app.account, crate::helpers::random_u64()));
    let name = name.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let args = chromium_args(&profile);
        if let Some(name) = name {
            let dir = screenshot_dir();
            let _ = std::fs::create_dir_all(&dir);
            for (form, size) in [("desktop", "1280,2200"), ("phone", "390,2600")] {
                let out = Command::new(chromium())
                    .args(&args)
                    .arg(format!("--window-size={size}"))
                    .arg(format!("--screenshot={}", dir.join(format!("{name}-{form}.png")).display()))
                    .arg(&url)
                    .output()
                    .expect("run chromium");
                assert!(out.status.success(), "screenshot: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let out = Command::new(chromium()).args(&args).args(["--dump-dom", &url]).output().expect("run chromium");
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap()
}

/// The text of the element with `id` in a DOM dump.
fn text_of(dom: &str, id: &str) -> Option<String> {
    crate::helpers::element_text(dom, id)
}

/// The value of the page's progress counter (products done in the initial sync).
pub fn products_done(dom: &str) -> Option<u64> {
    text_of(dom, "initial-sync-done").and_then(|t| t.trim().parse().ok())
}

/// A refused Hub write shows on the page with its reason; after the fix, **Thử lại** applies it;
/// **Đồng bộ lại ngay** queues one pass (a second press within minutes does not); no secret is on
/// the page. The page's forms are posted as a browser posts them (its CSRF token, the cookie).
#[tokio::test]
async fn the_connection_page_shows_a_refused_write_and_thu_lai_applies_it_after_the_fix() {
    let (mut app, token) = crate::helpers::connected(Some(true)).await;
    let hub_url = format!("{}/_sim/accounts/{}", stack().hub, app.account);
    // The first pass (the initial sync) is over, so the fault below meets the product's write.
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.status().await.1["initial_sync"]["state"] != "done" {
        assert!(Instant::now() < deadline, "the initial sync did not end");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The Hub refuses the next write of this account, for good (422).
    app.post_json(&format!("{}/_sim/faults", stack().hub), json!([{"status": 422, "account": app.account}])).await;
    app.post_json(
        &format!("{}/_sim/businesses/{}/products", stack().nhanh, app.business_id),
        json!({"idNhanh": 7801, "name": "Nón lá", "code": "SP7801", "price": "90000", "status": "Active"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, status) = app.status().await;
        if status["recent_failures"].as_array().is_some_and(|f| !f.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the refused write never reached the error log: {status}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let failing = rendered_page(&app, Some("connection-failing")).await;
    assert!(failing.contains("Loyalty Hub từ chối dữ liệu"), "{failing}");
    assert!(failing.contains("Thử lại") && failing.contains("data-record=\"product:7801\""));
    for secret in [app.secret.as_str(), "access_token", "secret_key\">"] {
        assert!(!failing.contains(secret), "{secret} on the page");
    }
    assert!(failing.contains(&token), "the verify token is shown (to paste on Nhanh)");
    // The fix: the Hub accepts again (the fault was used up); the merchant presses Thử lại.
    let page = app.open_page().await;
    let csrf = crate::helpers::csrf_of(&page.body);
    let retried = app
        .post_form(
            &format!("/nhanhvn/connect/{}/retry", app.account),
            &[("csrf_token", csrf.as_str()), ("entity", "product"), ("record", "7801")],
        )
        .await;
    assert_eq!(retried.status, 303);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !app.get_json(&hub_url).await["products"].as_array().is_some_and(|p| p.iter().any(|p| p["code"] == "SP7801"))
    {
        assert!(Instant::now() < deadline, "Thử lại did not apply the product");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let passes = |logs: &str, account: &str| {
        logs.lines().filter(|l| l.contains("scheduled pass started by the merchant") && l.contains(account)).count()
    };
    let first =
        app.post_form(&format!("/nhanhvn/connect/{}/sync", app.account), &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(first.location.as_deref(), Some(format!("/nhanhvn/connect/{}?done=sync", app.account).as_str()));
    let again =
        app.post_form(&format!("/nhanhvn/connect/{}/sync", app.account), &[("csrf_token", csrf.as_str())]).await;
    assert_eq!(again.location.as_deref(), Some(format!("/nhanhvn/connect/{}?done=too-soon", app.account).as_str()));
    assert_eq!(passes(&app.logs(), &app.account), 1, "one pass for two presses");
    let healthy = rendered_page(&app, Some("connection-healthy")).await;
    assert!(healthy.contains("id=\"stream-products\""));
    app.status_until(30, "a product counted", |s| s["streams"]["products"]["applied"].as_u64() >= Some(1)).await;
}

fn chromium() -> String {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] {
        if std::path::Path::new(c).exists() {
            return c.to_owned();
        }
    }
    panic!("Chromium is not installed (scripts/tools.sh installs Debian's chromium)");
}

#[tokio::test]
async fn connect_page_renders_in_headless_chromium() {
    let app = TestApp::new().await;
    let profile = std::env::temp_dir().join(format!("chromium-{}", app.account));
    let url = format!("{}/nhanhvn/connect/{}?session={}", stack().connector, app.account, app.session);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(chromium())
            .args(chromium_args(&profile))
            .args(["--dump-dom", &url])
            .output()
            .expect("run chromium")
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("Kích hoạt"), "page did not render: {dom}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(dom.contains(&format!("<code id=\"account-id\">{}</code>", app.account)));
    assert!(
        dom.contains("name=\"app_id\"") && dom.contains("name=\"secret_key\"") && dom.contains("name=\"csrf_token\"")
    );
    assert!(dom.contains(&format!("/nhanhvn/connect/callback/{{app_id}}/{}", app.account)));
}
