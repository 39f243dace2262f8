//! The connect and connection pages in headless Chromium's command line: the session redirect
//! sets the cookie, the pages render without JavaScript, and the DOM shows what the status holds
//! (the initial sync's progress, `sync.rs`). The clicks are `clicks.rs`, through WebDriver.

use crate::helpers::{stack, TestApp};
use std::path::PathBuf;
use std::process::Command;

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
