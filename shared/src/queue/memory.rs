//! An in-memory FIFO queue with deduplication, for unit tests and benchmarks.

use super::{QueueError, QueueMessage, RetryDelay, WorkQueue};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Mutex;

/// Keeps every distinct message in order; a repeated `dedup_id` is dropped like SQS does.
#[derive(Default)]
pub struct MemoryQueue {
    inner: Mutex<(Vec<QueueMessage>, HashSet<String>)>,
    delays: Mutex<Vec<(String, i32)>>,
    /// When set, every send fails (tests of "accepted means queued").
    pub fail: std::sync::atomic::AtomicBool,
}

impl MemoryQueue {
    /// The queued messages.
    pub fn messages(&self) -> Vec<QueueMessage> {
        self.inner.lock().map(|g| g.0.clone()).unwrap_or_default()
    }
    /// The delays asked through [`RetryDelay`]: (receipt handle, seconds).
    pub fn delays(&self) -> Vec<(String, i32)> {
        self.delays.lock().map(|g| g.clone()).unwrap_or_default()
    }
    /// Forgets everything (benchmarks).
    pub fn clear(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.0.clear();
            g.1.clear();
        }
    }
}

#[async_trait]
impl RetryDelay for MemoryQueue {
    async fn delay(&self, receipt_handle: &str, secs: i32) -> Result<(), QueueError> {
        let mut g = self.delays.lock().map_err(|_| QueueError::Unavailable("poisoned".into()))?;
        g.push((receipt_handle.to_owned(), secs.clamp(0, 43_200)));
        Ok(())
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, messages: &[QueueMessage]) -> Result<(), QueueError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError::Unavailable("simulated".into()));
        }
        let mut g = self.inner.lock().map_err(|_| QueueError::Unavailable("poisoned".into()))?;
        for m in messages {
            if g.1.insert(m.dedup_id.clone()) {
                g.0.push(m.clone());
            }
        }
        Ok(())
    }
}
