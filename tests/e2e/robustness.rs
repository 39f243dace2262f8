//! Robustness runs for `make measure` (issue 14), ignored by `make test`: each loads a stack of
//! its own for minutes, then checks the Hub against Nhanh record by record and writes one JSON file
//! for `scripts/measure.py`.
//!
//! - `storm_of_duplicated_shuffled_and_dropped_webhooks` (S1): `STORM_CHANGES` Nhanh changes; 30 %
//!   of their webhooks sent twice, all shuffled, 5 % dropped; after the queue drains and one pass,
//!   every Nhanh record is in the Hub once, in its final state.
//! - `faults_and_a_killed_processor_lose_nothing` (S2): `FAULT_CHANGES` changes while 10 % of Hub
//!   calls answer 5xx or 429 and 10 % of Nhanh calls time out or answer `ERR_429`, and the
//!   processor's process is killed in the middle of its work; what was given up is a dead letter
//!   of the account with its reason (issue 23: in the table), and one **Thử lại** of each restores it.
//!
//! The comparison reads both simulators' stores directly; the status map is this file's own copy
//! of loyalty-hub-api.md's, not the connector's.

use crate::helpers::*;
use crate::measure::{env_u64, merchant, unlimited, until_applied, until_synced, write};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// xorshift64*: a small seeded generator, so a run's seed in its JSON repeats its storm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// Nhanh statuses the runs use and their Hub statuses (loyalty-hub-api.md § Orders).
const STATUSES: [(&str, &str); 5] = [
    ("New", "new"),
    ("Confirmed", "confirmed"),
    ("Shipping", "shipping"),
    ("Success", "completed"),
    ("Canceled", "cancelled"),
];

/// The product every order of a run holds (synced before the run).
const LINE_PRODUCT: u64 = 7001;

fn order(id: u64, status: &str) -> Value {
    json!({"id": id, "statusCode": status, "saleChannel": "2", "customerName": "Lê Văn Minh",
        "customerMobile": format!("09{:08}", id % 100_000_000), "customerAddress": "5 Hàng Bài, Hà Nội",
        "moneyDiscount": "0", "moneyUsedPoints": "0", "customerShipFee": "0",
        "products": [{"productId": LINE_PRODUCT.to_string(), "productName": "Áo", "productCode": format!("SP{LINE_PRODUCT}"),
            "price": "250000", "quantity": "1", "discount": "0"}]})
}

fn product(id: u64, price: u64) -> Value {
    json!({"idNhanh": id, "name": format!("Sản phẩm {id}"), "code": format!("SP{id}"), "price": price.to_string(), "status": "Active"})
}

/// The v3 webhook Nhanh sends for a change of `kind` ("order" or "product") to record `id`.
fn webhook(business: u64, kind: &str, added: bool, id: u64) -> Value {
    match (kind, added) {
        ("order", true) => json!({"event": "orderAdd", "businessId": business, "data": {"info": {"id": id}}}),
        ("order", false) => json!({"event": "orderUpdate", "businessId": business, "data": {"info": {"id": id}}}),
        (_, true) => json!({"event": "productAdd", "businessId": business, "data": {"id": id}}),
        _ => json!({"event": "productUpdate", "businessId": business, "data": {"id": id}}),
    }
}

/// A connected v3 account whose simulator sends no webhooks (the run sends them), unlimited, with
/// the line product in the Hub.
async fn prepared() -> (TestApp, String) {
    let (app, token) = connected_on(Api::V3, None).await;
    until_synced(&app).await;
    unlimited(&app).await;
    merchant(&app, "products", product(LINE_PRODUCT, 250_000)).await;
    send(&app, &token, vec![webhook(app.business_id, "product", true, LINE_PRODUCT)]).await;
    until_applied(&app, "products", 1, 60).await;
    (app, token)
}

/// Makes `n` changes in Nhanh (a tenth product creates, a tenth product edits, two fifths order
/// creates, the rest order status changes) and returns the webhook of each, in the order made.
async fn make_changes(app: &TestApp, n: u64, base: u64, rng: &mut Rng) -> Vec<Value> {
    let (products, orders) = ((n / 10).max(1), (n * 2 / 5).max(1));
    let mut changes: Vec<(Value, Value, &str)> = Vec::with_capacity(n as usize);
    for i in 0..products {
        changes.push((product(base + i, 10_000 + i), webhook(app.business_id, "product", true, base + i), "products"));
    }
    for i in 0..orders {
        changes.push((order(base + i, "New"), webhook(app.business_id, "order", true, base + i), "orders"));
    }
    let mut edits = Vec::new();
    for _ in 0..products {
        let id = base + rng.below(products);
        edits.push((
            product(id, 20_000 + rng.below(50_000)),
            webhook(app.business_id, "product", false, id),
            "products",
        ));
    }
    while (changes.len() + edits.len()) < n as usize {
        let id = base + rng.below(orders);
        let status = STATUSES[rng.below(STATUSES.len() as u64) as usize].0;
        edits.push((order(id, status), webhook(app.business_id, "order", false, id), "orders"));
    }
    // Creates first, then the edits one at a time per record (the simulator keeps the last).
    let url = |kind: &str| format!("{}/_sim/businesses/{}/{kind}", stack().nhanh, app.business_id);
    futures::stream::iter(changes.iter().map(|(record, _, kind)| app.http.post(url(kind)).json(record).send()))
        .buffer_unordered(16)
        .for_each(|r| async move { assert!(r.is_ok_and(|r| r.status().is_success()), "a Nhanh change was refused") })
        .await;
    for (record, _, kind) in &edits {
        merchant(app, kind, record.clone()).await;
    }
    changes.into_iter().chain(edits).map(|(_, hook, _)| hook).collect()
}

/// Posts the webhooks 16 at a time; returns how many were not answered 200.
async fn send(app: &TestApp, token: &str, hooks: Vec<Value>) -> usize {
    let url = format!("{}/nhanhvn/hook/{}", stack().connector, app.app_id);
    futures::stream::iter(hooks.into_iter().map(|h| app.http.post(&url).header("authorization", token).json(&h).send()))
        .buffer_unordered(16)
        .filter(|r| std::future::ready(!r.as_ref().is_ok_and(|r| r.status().as_u16() == 200)))
        .count()
        .await
}

async fn queue(url_var: &str) -> shared::queue::sqs::SqsQueue {
    let url = stack_env().get(url_var).cloned().unwrap_or_default();
    shared::queue::sqs::SqsQueue::from_sdk_config(&aws_sdk().await, url)
}

/// Waits until the work queue holds nothing (visible, in flight or delayed) twice, a second apart.
pub(crate) async fn drained(secs: u64) {
    let work = queue("QUEUE_URL").await;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut empty_reads = 0;
    while empty_reads < 2 {
        assert!(Instant::now() < deadline, "the work queue did not drain in {secs} s");
        empty_reads = if work.approximate_backlog().await.unwrap_or(1) == 0 { empty_reads + 1 } else { 0 };
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A marker order made now, then one pass of the account, waited for until the marker is in the
/// Hub and the queue drained: the positive signal before anything is said to be missing.
async fn through_a_pass(app: &TestApp, marker: u64) {
    merchant(app, "orders", order(marker, "New")).await;
    // A pass reads only whole seconds already over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    queue_pass(&app.account).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    while !hub(app).await["orders"].as_array().is_some_and(|o| o.iter().any(|o| o["code"] == json!(marker.to_string())))
    {
        assert!(Instant::now() < deadline, "the pass never brought the marker order");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drained(600).await;
}

async fn hub(app: &TestApp) -> Value {
    app.get_json(&format!("{}/_sim/accounts/{}", stack().hub, app.account)).await
}

/// Compares every Nhanh product and order with the Hub: (records checked, what differs, Hub
/// records that are a second copy of one Nhanh record or of one phone).
async fn compare(app: &TestApp) -> (usize, Vec<String>, usize) {
    let nhanh = app.get_json(&format!("{}/_sim/businesses/{}", stack().nhanh, app.business_id)).await;
    let hub = hub(app).await;
    let by = |kind: &str, field: &str| -> HashMap<String, Vec<Value>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for r in hub[kind].as_array().into_iter().flatten() {
            out.entry(r[field].as_str().unwrap_or_default().to_owned()).or_default().push(r.clone());
        }
        out
    };
    let (hub_products, hub_orders, hub_customers) =
        (by("products", "code"), by("orders", "code"), by("customers", "phone"));
    let duplicates = [&hub_products, &hub_orders, &hub_customers]
        .iter()
        .flat_map(|m| m.values())
        .map(|copies| copies.len().saturating_sub(1))
        .sum();
    let mut differs = Vec::new();
    let mut checked = 0;
    for p in nhanh["products"].as_array().into_iter().flatten() {
        checked += 1;
        let code = p["code"].as_str().unwrap_or_default();
        let price: i64 = p["price"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1);
        match hub_products.get(code).and_then(|c| c.first()) {
            None => differs.push(format!("product {code} is not in the Hub")),
            Some(h) if h["price"].as_i64() != Some(price) => {
                differs.push(format!("product {code}: Hub price {} for {price}", h["price"]))
            }
            Some(_) => {}
        }
    }
    for o in nhanh["orders"].as_array().into_iter().flatten() {
        checked += 1;
        let id = o["id"].as_str().unwrap_or_default();
        let want = STATUSES.iter().find(|(n, _)| o["statusCode"] == json!(n)).map_or("?", |(_, h)| h);
        match hub_orders.get(id).and_then(|c| c.first()) {
            None => differs.push(format!("order {id} is not in the Hub")),
            Some(h) if h["status"] != json!(want) => {
                differs.push(format!("order {id}: Hub {} for {want}", h["status"]))
            }
            Some(_) => {}
        }
    }
    (checked, differs, duplicates)
}

fn seed() -> u64 {
    std::env::var("STORM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(random_u64) | 1
}

#[tokio::test]
#[ignore = "make measure"]
async fn storm_of_duplicated_shuffled_and_dropped_webhooks() {
    let (n, seed) = (env_u64("STORM_CHANGES", 10_000), seed());
    let mut rng = Rng(seed);
    let (app, token) = prepared().await;
    let started = Instant::now();
    let made = make_changes(&app, n, 80_000_000, &mut rng).await;
    let changes_secs = started.elapsed().as_secs_f64();
    let mut hooks: Vec<Value> = Vec::with_capacity(made.len() * 14 / 10);
    for h in made {
        if rng.percent(30) {
            hooks.push(h.clone());
        }
        hooks.push(h);
    }
    for i in (1..hooks.len()).rev() {
        hooks.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let sent_before_drop = hooks.len();
    hooks.retain(|_| !rng.percent(5));
    let (sent, dropped) = (hooks.len(), sent_before_drop - hooks.len());
    let started = Instant::now();
    let refused = send(&app, &token, hooks).await;
    let send_secs = started.elapsed().as_secs_f64();
    drained(1800).await;
    let drained_secs = started.elapsed().as_secs_f64();
    let after_webhooks = compare(&app).await;
    through_a_pass(&app, 89_999_999).await;
    let pass_secs = started.elapsed().as_secs_f64() - drained_secs;
    let (checked, differs, duplicates) = compare(&app).await;
    write(
        "storm",
        &json!({"changes": n, "seed": seed, "webhooks_sent": sent, "webhooks_dropped": dropped, "refused": refused,
            "missing_or_stale_after_webhooks": after_webhooks.1.len(), "records_checked": checked,
            "differ_after_one_pass": differs.len(), "duplicates": duplicates, "changes_secs": changes_secs,
            "send_secs": send_secs, "drained_secs": drained_secs, "pass_secs": pass_secs,
            "first_differences": differs.iter().take(10).collect::<Vec<_>>()}),
    );
    assert_eq!(refused, 0, "every webhook of a connected account is accepted");
    assert!(
        differs.is_empty() && duplicates == 0,
        "{} differ, {duplicates} duplicates: {:?}",
        differs.len(),
        &differs[..differs.len().min(10)]
    );
}

/// This stack's processor processes (started with its queue URL) and the CPU time each has used,
/// in clock ticks.
fn processor_cpu_ticks() -> Vec<(u32, u64)> {
    let wanted = format!("QUEUE_URL={}", stack_env().get("QUEUE_URL").cloned().unwrap_or_default());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if !program.ends_with(b"/debug/processor") || !environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            continue;
        }
        // Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the name's ')'.
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        found.push((pid, ticks(11) + ticks(12)));
    }
    found
}

/// Kills (SIGKILL) one processor process of this stack that is working a batch (its CPU time grew
/// over 50 ms; an idle instance waits on the Runtime API and uses none). Returns whether it did.
///
/// One busy instance, on purpose: cargo lambda watch 1.9.2 never reaps a dead instance, and an
/// instance killed while idle stays "idle" in its pool forever, so no fresh one would replace it;
/// one killed while busy leaves room for a new instance (the stack runs several per function).
async fn kill_a_busy_processor() -> bool {
    let before = processor_cpu_ticks();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let busy = processor_cpu_ticks().into_iter().find(|(pid, ticks)| before.iter().any(|(p, t)| p == pid && ticks > t));
    busy.is_some_and(|(pid, _)| {
        std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().is_ok_and(|s| s.success())
    })
}

async fn fault_rates(app: &TestApp, percent: u32) {
    app.post_json(
        &format!("{}/_sim/faults/rate", stack().nhanh),
        json!({"app_id": app.app_id, "percent": percent, "kinds": ["timeout", "ERR_429"]}),
    )
    .await;
    app.post_json(
        &format!("{}/_sim/faults/rate", stack().hub),
        json!({"account": app.account, "percent": percent, "statuses": [500, 503, 429], "retry_after": 1}),
    )
    .await;
}

/// Presses **Thử lại** on every dead letter of `app`'s account, as the page does (the table's
/// items queued again); how many moved.
async fn requeue_dead_letters(app: &TestApp) -> usize {
    use shared::queue::dead_letters::{DeadLetters, TableDeadLetters};
    let env = stack_env();
    let sdk = aws_sdk().await;
    let store = std::sync::Arc::new(shared::store::dynamo::DynamoStore::from_sdk_config(
        &sdk,
        env.get("TABLE_NAME").cloned().unwrap_or_default(),
    ));
    let work = std::sync::Arc::new(shared::queue::sqs::SqsQueue::from_sdk_config(
        &sdk,
        env.get("QUEUE_URL").cloned().unwrap_or_default(),
    ));
    let letters = TableDeadLetters { store, work };
    let account = shared::domain::AccountId::parse(&app.account).expect("account");
    let mut moved = 0;
    for letter in letters.of_account(&account, 1000).await.expect("dead letters") {
        moved += usize::from(letters.requeue(&account, &letter.message_id).await.expect("requeue"));
    }
    moved
}

#[tokio::test]
#[ignore = "make measure"]
async fn faults_and_a_killed_processor_lose_nothing() {
    let (n, seed) = (env_u64("FAULT_CHANGES", 1_000), seed());
    let mut rng = Rng(seed);
    let (app, token) = prepared().await;
    let hooks = make_changes(&app, n, 70_000_000, &mut rng).await;
    fault_rates(&app, 10).await;
    let started = Instant::now();
    let half = hooks.len() / 2;
    let mut refused = send(&app, &token, hooks[..half].to_vec()).await;
    // Killed while it works: the invocation ends at the function timeout, and the batch in hand
    // fails as a whole and comes back after the queue's visibility timeout.
    let mut killed = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while killed == 0 && Instant::now() < deadline {
        killed = usize::from(kill_a_busy_processor().await);
    }
    refused += send(&app, &token, hooks[half..].to_vec()).await;
    drained(1800).await;
    let drained_secs = started.elapsed().as_secs_f64();
    fault_rates(&app, 0).await;
    let nhanh_calls = app.get_json(&format!("{}/_sim/calls?app_id={}", stack().nhanh, app.app_id)).await;
    let hub_requests = app.get_json(&format!("{}/_sim/requests", stack().hub)).await;
    let hub_faults = hub_requests["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["account"] == json!(app.account) && r.get("fault").is_some())
        .count();
    let (_, before_replay, _) = compare(&app).await;
    // Each dead letter carries its reason (issue 23: kept per account in the table).
    let dead_count = queue("DLQ_URL").await.approximate_count().await.unwrap_or(0);
    let (_, status) = app.status().await;
    let mut reasons: HashMap<String, usize> = HashMap::new();
    let dead_letters = status["dead_letters"].as_array().cloned().unwrap_or_default();
    for d in &dead_letters {
        let reason = d["reason"].as_str().unwrap_or("(no reason recorded)");
        *reasons.entry(reason.chars().take(100).collect()).or_default() += 1;
    }
    let requeued = requeue_dead_letters(&app).await;
    let replayed = replay_dead_letters().await;
    drained(600).await;
    let (checked, differs, duplicates) = compare(&app).await;
    write(
        "faults",
        &json!({"changes": n, "seed": seed, "refused": refused, "processors_killed": killed,
            "nhanh_faults": nhanh_calls["faults"], "nhanh_calls_while_locked": nhanh_calls["while_locked"],
            "hub_faults": hub_faults, "drained_secs": drained_secs, "differ_before_replay": before_replay.len(),
            "dead_letters": dead_letters.len(), "undecodable_in_dlq": dead_count, "dead_letter_reasons": reasons,
            "requeued": requeued, "replay": replayed,
            "records_checked": checked, "differ_after_replay": differs.len(), "duplicates": duplicates,
            "first_differences": differs.iter().take(10).collect::<Vec<_>>()}),
    );
    assert_eq!(refused, 0, "every webhook of a connected account is accepted");
    assert!(killed > 0, "no processor process was seen to kill");
    assert!(
        differs.is_empty() && duplicates == 0,
        "{} differ, {duplicates} duplicates: {:?}",
        differs.len(),
        &differs[..differs.len().min(10)]
    );
}
