//! CPU time of the processor per Nhanh order event with in-memory adapters (fake Nhanh and Hub,
//! memory stores): re-read the order, resolve the customer by phone, map, update the Hub order.

// A benchmark harness: a failed setup should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use shared::domain::{ApiVersion, NhanhId, WorkItem};
use shared::nhanh::{Order, OrderCustomer, OrderLine};
use shared::services::process::BatchRecord;
use shared::testing::processor_fixture;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let f = rt.block_on(processor_fixture());
    let records: Vec<BatchRecord> = (0..100u64)
        .map(|i| {
            let id = 500_000 + i;
            f.nhanh.orders.lock().expect("lock").insert(
                id,
                Order {
                    id: NhanhId::new(id).expect("id"),
                    shop_order_id: None,
                    status: shared::nhanh::OrderStatus::Confirmed,
                    sale_channel: Some(2),
                    customer: OrderCustomer {
                        name: Some("Nguyễn Văn A".into()),
                        mobile: Some(format!("09123{:05}", i)),
                        email: None,
                        address: Some("12 Lê Lợi".into()),
                    },
                    items: vec![OrderLine {
                        product_id: NhanhId::new(5),
                        code: Some("SP5".into()),
                        name: Some("Áo".into()),
                        quantity: 1.0,
                        price: 250_000,
                        discount: 0,
                    }],
                    money_discount: 0,
                    money_used_points: 0,
                    customer_ship_fee: 30_000,
                    description: None,
                    created_at: Some(f.now + time::Duration::minutes(1)),
                    updated_at: None,
                },
            );
            let item = WorkItem::NhanhWebhook {
                account_id: f.account.clone(),
                api_version: ApiVersion::V2,
                received_at: f.now,
                event: shared::testing::webhook_body(
                    &json!({"event": "orderUpdate", "businessId": 10, "data": {"orderId": id, "status": "Confirmed"}}),
                ),
                record_id: None,
            };
            BatchRecord {
                message_id: format!("m{i}"),
                group_id: format!("acct:order:{id}"),
                body: serde_json::to_string(&item).expect("json"),
            }
        })
        .collect();
    // First pass creates the customers and orders; the benchmark measures steady-state updates.
    rt.block_on(async {
        for r in &records {
            let _ = f.processor.process_record(r).await;
        }
    });
    c.bench_function("processor orderUpdate (in-memory adapters)", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            rt.block_on(async {
                for i in 0..iters {
                    let _ = f.processor.process_record(&records[(i % 100) as usize]).await;
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
