//! The local stand-in for the SQS event source mapping: polls the FIFO queue in batches of up to
//! 10, invokes the `processor` function through `cargo lambda watch`'s invoke API with an SQS
//! event, deletes what succeeded and leaves the reported failures to come back after their
//! visibility timeout (moto moves them to the DLQ after `maxReceiveCount`). If the invocation
//! itself fails, the whole batch comes back, as with the real mapping. An invocation that does not
//! answer within the function's timeout (`INVOKE_TIMEOUT_SECS`, template.yaml's 30 s for the
//! processor) has failed, as Lambda ends it then: without this a killed processor instance, which
//! `cargo lambda watch` never answers for, would stop the bridge for good.
//!
//! Local extras: every message received for the first time is appended to a tap file (JSON lines:
//! group id, dedup id, body), so tests can see what the queue carried; `POST /pause` and
//! `POST /resume` on the control port stop and restart polling.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use shared::queue::sqs::{Received, SqsQueue};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The bridge's shared state.
pub struct Bridge {
    /// The work queue.
    pub queue: SqsQueue,
    /// The queue's ARN (for `eventSourceARN`).
    pub queue_arn: String,
    /// Base URL of the Lambda invoke API (`http://127.0.0.1:9000`).
    pub lambda_url: String,
    /// Function name.
    pub function: String,
    /// Tap file path.
    pub tap: Option<std::path::PathBuf>,
    /// How long an invocation may take before it counts as failed (the function's timeout).
    pub invoke_timeout: std::time::Duration,
    paused: AtomicBool,
    cycle: Mutex<()>,
    http: reqwest::Client,
    /// Batches handed to the function so far (each tapped message names its batch).
    batches: std::sync::atomic::AtomicU64,
}

impl Bridge {
    /// Builds a bridge.
    pub fn new(
        queue: SqsQueue,
        queue_arn: String,
        lambda_url: String,
        function: String,
        tap: Option<std::path::PathBuf>,
        invoke_timeout: std::time::Duration,
    ) -> Self {
        Self {
            queue,
            queue_arn,
            lambda_url,
            function,
            tap,
            invoke_timeout,
            paused: AtomicBool::new(false),
            batches: std::sync::atomic::AtomicU64::new(0),
            cycle: Mutex::new(()),
            http: reqwest::Client::new(),
        }
    }

    fn event(&self, batch: &[Received]) -> Value {
        let records: Vec<Value> = batch
            .iter()
            .map(|m| {
                json!({
                    "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                    "attributes": {"ApproximateReceiveCount": m.receive_count.to_string(), "SentTimestamp": m.sent_timestamp,
                        "MessageGroupId": m.group_id, "MessageDeduplicationId": m.dedup_id,
                        "ApproximateFirstReceiveTimestamp": m.sent_timestamp, "SenderId": "local"},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn, "awsRegion": "us-east-1"
                })
            })
            .collect();
        json!({"Records": records})
    }

    fn tap(&self, batch: &[Received]) {
        let Some(path) = &self.tap else { return };
        let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) else { return };
        let number = self.batches.fetch_add(1, Ordering::SeqCst);
        for m in batch.iter().filter(|m| m.receive_count <= 1) {
            let line = json!({"group_id": m.group_id, "dedup_id": m.dedup_id, "body": m.body, "message_id": m.message_id,
                "batch": number});
            let _ = writeln!(f, "{line}");
        }
    }

    /// One poll: receive, invoke, delete the successes. Returns how many messages it saw.
    pub async fn cycle(&self) -> usize {
        let _guard = self.cycle.lock().await;
        if self.paused.load(Ordering::SeqCst) {
            return 0;
        }
        let batch = match self.queue.receive(10, 1).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("bridge: receive failed: {e}");
                return 0;
            }
        };
        if batch.is_empty() {
            return 0;
        }
        self.tap(&batch);
        let url = format!("{}/2015-03-31/functions/{}/invocations", self.lambda_url, self.function);
        let answer = tokio::time::timeout(self.invoke_timeout, async {
            let r = self.http.post(&url).json(&self.event(&batch)).send().await?;
            let status = r.status();
            r.json::<Value>().await.map(|v| (status, v))
        })
        .await;
        let failed: Option<Vec<String>> = match answer {
            Err(_) => {
                eprintln!("bridge: invocation timed out after {:?}", self.invoke_timeout);
                None
            }
            Ok(Ok((status, v))) if status.is_success() => Some(
                v["batchItemFailures"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
            ),
            Ok(Ok((status, _))) => {
                eprintln!("bridge: invocation answered {status}");
                None
            }
            Ok(Err(e)) => {
                eprintln!("bridge: invocation failed: {e}");
                None
            }
        };
        let Some(failed) = failed else { return batch.len() };
        for m in &batch {
            if !failed.contains(&m.message_id) {
                let _ = self.queue.delete(&m.receipt_handle).await;
            }
        }
        println!("bridge: batch of {} → {} failed", batch.len(), failed.len());
        batch.len()
    }

    /// Invokes the `reconcile` function every `every` (the local stand-in for EventBridge Scheduler).
    pub async fn schedule(self: Arc<Self>, every: std::time::Duration) {
        let url = format!("{}/2015-03-31/functions/reconcile/invocations", self.lambda_url);
        loop {
            tokio::time::sleep(every).await;
            match self.http.post(&url).json(&json!({"source": "local.scheduler"})).send().await {
                Ok(r) => println!("scheduler: tick → {}", r.status()),
                Err(e) => eprintln!("scheduler: tick failed: {e}"),
            }
        }
    }

    /// Polls forever.
    pub async fn run(self: Arc<Self>) {
        loop {
            if self.cycle().await == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn pause(State(b): State<Arc<Bridge>>) -> Json<Value> {
    b.paused.store(true, Ordering::SeqCst);
    drop(b.cycle.lock().await);
    Json(json!({"paused": true}))
}

async fn resume(State(b): State<Arc<Bridge>>) -> Json<Value> {
    b.paused.store(false, Ordering::SeqCst);
    Json(json!({"paused": false}))
}

/// The control API.
pub fn control(bridge: Arc<Bridge>) -> Router {
    Router::new().route("/pause", post(pause)).route("/resume", post(resume)).with_state(bridge)
}
