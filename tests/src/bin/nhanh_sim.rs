//! Runs the Nhanh simulator (API v2 and v3). Env: `NHANH_SIM_ADDR` (default 127.0.0.1:9100),
//! `NHANH_SIM_LIMIT` / `NHANH_SIM_WINDOW_SECS` (default 150 / 30), `NHANH_SIM_RETRY_MS`
//! (webhook retry delays, default "300000,600000,1800000"), and a demo app from
//! `NHANH_SIM_DEMO_APP_ID`, `NHANH_SIM_DEMO_SECRET`, `NHANH_SIM_DEMO_BUSINESS_ID`.

use sims::nhanh_sim::{router, AppConfig, NhanhSim};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = env("NHANH_SIM_ADDR", "127.0.0.1:9100");
    let limit = env("NHANH_SIM_LIMIT", "150").parse().unwrap_or(150);
    let window = env("NHANH_SIM_WINDOW_SECS", "30").parse().unwrap_or(30);
    let delays =
        env("NHANH_SIM_RETRY_MS", "300000,600000,1800000").split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let mut sim = NhanhSim::new(limit, window, delays);
    if let (Ok(app), Ok(secret)) = (std::env::var("NHANH_SIM_DEMO_APP_ID"), std::env::var("NHANH_SIM_DEMO_SECRET")) {
        sim.add_app(AppConfig {
            app_id: app.parse().unwrap_or(1),
            secret_key: secret,
            redirect_urls: vec![],
            business_id: std::env::var("NHANH_SIM_DEMO_BUSINESS_ID").ok().and_then(|b| b.parse().ok()),
            auto_consent: false,
            permissions: vec!["product".into(), "order".into(), "customer".into()],
            denied_paths: vec![],
            depots_all: true,
            customer_add_refuses_duplicates: false,
        });
    }
    println!("nhanh-sim listening on {addr}");
    sims::serve(&addr, router(sim)).await
}
