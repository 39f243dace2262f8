//! Stateful simulators of Nhanh's Open API (v3, and v2 for older connections) and of the Loyalty
//! Hub, used by the end-to-end tests
//! and by `make run`. Each has a control API under `/_sim/...` to seed data, act as a merchant or
//! Hub user, inject faults and inspect what the connector did.

pub mod bridge;
pub mod form;
pub mod hub_contract;
pub mod hub_sim;
pub mod nhanh_sim;

/// Binds `addr` and serves `router` until the process ends.
pub async fn serve(addr: &str, router: axum::Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router).await
}

/// Current Unix time in seconds, shifted by a simulator's clock offset.
pub fn unix_now(offset_secs: i64) -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + offset_secs
}
