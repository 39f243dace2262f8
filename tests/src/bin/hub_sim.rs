//! Runs the Loyalty Hub simulator. Env: `HUB_SIM_ADDR` (default 127.0.0.1:9200),
//! `HUB_SERVICE_TOKEN` (the token the connector must present), and an optional demo admin
//! session `HUB_SIM_DEMO_SESSION` for account `HUB_SIM_DEMO_ACCOUNT`. `HUB_SIM_RATE_PER_SEC`: the
//! per-account limit answered with 429 (default the contract's 50; 0: none).

use sims::hub_sim::{router, HubSim};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = std::env::var("HUB_SIM_ADDR").unwrap_or_else(|_| "127.0.0.1:9200".into());
    let token = std::env::var("HUB_SERVICE_TOKEN").unwrap_or_else(|_| "local-service-token".into());
    let rate =
        std::env::var("HUB_SIM_RATE_PER_SEC").ok().and_then(|v| v.parse().ok()).unwrap_or(sims::hub_sim::RATE_PER_SEC);
    let mut sim = HubSim::new(token).with_rate_per_sec(rate);
    if let (Ok(session), Ok(account)) = (std::env::var("HUB_SIM_DEMO_SESSION"), std::env::var("HUB_SIM_DEMO_ACCOUNT")) {
        sim.add_session(&session, &account, "demo-admin", "admin", 30 * 86_400);
    }
    println!("hub-sim listening on {addr}");
    sims::serve(&addr, router(sim)).await
}
