//! The intake path per Nhanh webhook: parse, find the connection, verify the token (cached after
//! the first open), build the FIFO message, send it to an in-memory queue. Prints time per event.

// A benchmark harness: a failed setup should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use shared::domain::ConnectionState;
use shared::testing::intake_fixture;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let f = intake_fixture();
    rt.block_on(f.connect("bench-acct", 1, 10, "bench-token-0123456789", ConnectionState::Active));
    let bodies: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            json!({"event": "orderAdd", "businessId": 10, "webhooksVerifyToken": "bench-token-0123456789",
                "data": {"orderId": 100_000 + i, "status": "New", "customerName": "Nguyễn Văn A", "customerMobile": "0912345678",
                    "calcTotalMoney": "250000", "products": [{"id": 5, "quantity": 1, "price": "250000", "discount": 0}]}})
            .to_string()
            .into_bytes()
        })
        .collect();
    c.bench_function("intake nhanh orderAdd (in-memory queue)", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            rt.block_on(async {
                for i in 0..iters {
                    let body = &bodies[(i % 1000) as usize];
                    let _ = f.service.nhanh_webhook("1", None, body).await;
                }
            });
            start.elapsed()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
