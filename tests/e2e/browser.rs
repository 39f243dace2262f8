//! The connect page in headless Chromium: the session redirect sets the cookie and the page
//! renders its form without JavaScript.

use crate::helpers::{stack, TestApp};
use std::process::Command;

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
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
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
