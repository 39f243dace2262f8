//! The sample events in `events/` through `cargo lambda invoke`, as a developer would run them.

use crate::helpers::stack;
use std::process::Command;

#[tokio::test]
async fn sample_status_event_through_cargo_lambda_invoke() {
    let port = stack().connector.rsplit(':').next().unwrap_or("9000").to_owned();
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("cargo")
            .current_dir(&root)
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &port,
                "connect",
                "--data-file",
                "events/connect-status.json",
            ])
            .output()
            .expect("cargo lambda on PATH (scripts/tools.sh installs it)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON answer");
    // The stack's account 385 has never connected in the test stack: the Hub's status read says so.
    assert_eq!(answer["statusCode"], 404, "{answer}");
    assert!(answer["body"].as_str().unwrap_or_default().contains("never connected"));
}
