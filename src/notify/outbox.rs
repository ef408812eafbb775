//! The outbox worker: one per sink, delivering that sink's undelivered rows
//! in order. A failed send is retried with exponential backoff (1 s doubling
//! to 60 s, plus jitter; 5 min for errors only a config change fixes) and
//! nothing behind it overtakes it. Rows queued while the sink was failing are
//! merged into one message (up to the sink's size limit) when it recovers.
//! Polling never waits for a sink: it only commits rows and rings the bell.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Delivery, Sink};
use crate::store::{now_ms, Store};

pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
pub const PERMANENT_BACKOFF: Duration = Duration::from_secs(300);

pub struct Worker {
    pub name: String,
    pub sink: Sink,
    pub max_events: usize,
    pub timeout: Duration,
    pub store: Store,
    pub wake: Arc<Notify>,
}

/// The delay before attempt `attempts + 1`.
pub fn backoff(attempts: i64, retryable: bool, retry_after: Option<Duration>) -> Duration {
    let base = if retryable {
        let exp = attempts.clamp(0, 16) as u32;
        Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
    } else {
        PERMANENT_BACKOFF
    };
    let jitter = rand::thread_rng().gen_range(0.0..0.2);
    base.mul_f64(1.0 + jitter).max(retry_after.unwrap_or_default())
}

/// Outcome of one attempt.
pub enum Step {
    /// Nothing pending.
    Idle,
    /// The head row is not due yet; try again after this long.
    Wait(Duration),
    Delivered(usize),
    Failed,
}

impl Worker {
    /// Tries to deliver the head of the queue once. With `ignore_schedule`
    /// (`watch --once`) a row waiting for its backoff is tried at once.
    pub async fn step(&self, ignore_schedule: bool) -> Step {
        let store = self.store.clone();
        let name = self.name.clone();
        let pending = match tokio::task::spawn_blocking(move || store.pending(&name, 256))
            .await
            .expect("store task")
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(sink = %self.name, "reading the outbox: {e}");
                return Step::Wait(Duration::from_secs(5));
            }
        };
        let Some(head) = pending.first() else {
            return Step::Idle;
        };
        let due_in = head.next_attempt_ms - now_ms();
        if due_in > 0 && !ignore_schedule {
            return Step::Wait(Duration::from_millis(due_in as u64));
        }
        let attempts = head.attempts;
        let mut ids = Vec::new();
        let mut events = Vec::new();
        for p in &pending {
            if !ids.is_empty() && events.len() + p.events.len() > self.max_events {
                break;
            }
            ids.push(p.id);
            events.extend(p.events.iter().cloned());
        }
        let d = Delivery {
            id: format!("{}-{}-{}", self.name, ids[0], ids[ids.len() - 1]),
            sink: self.name.clone(),
            events,
        };
        let n = d.events.len();
        let result = match tokio::time::timeout(self.timeout, self.sink.send(&d)).await {
            Ok(r) => r,
            Err(_) => Err(super::DeliveryError::retryable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        };
        let store = self.store.clone();
        match result {
            Ok(()) => {
                let ids2 = ids.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || store.mark_delivered(&ids2))
                    .await
                    .expect("store task")
                {
                    tracing::error!(sink = %self.name, "recording a delivery: {e}");
                }
                if attempts > 0 {
                    tracing::info!(sink = %self.name, delivery = %d.id, "delivered after {attempts} failed attempt(s)");
                } else {
                    tracing::debug!(sink = %self.name, delivery = %d.id, events = n, "delivered");
                }
                Step::Delivered(n)
            }
            Err(e) => {
                let wait = backoff(attempts, e.retryable, e.retry_after);
                // Log the first failure and then every tenth, not every retry.
                if attempts % 10 == 0 {
                    tracing::warn!(sink = %self.name, delivery = %d.id, attempt = attempts + 1, retry_in = ?wait, "delivery failed: {}", e.message);
                }
                let msg = e.message.clone();
                let next = now_ms() + wait.as_millis() as i64;
                if let Err(e) = tokio::task::spawn_blocking(move || store.mark_failed(&ids, &msg, next))
                    .await
                    .expect("store task")
                {
                    tracing::error!(sink = %self.name, "recording a failed delivery: {e}");
                }
                Step::Failed
            }
        }
    }

    /// Delivers until shut down.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            // A send in flight is allowed to finish (bounded by the sink's
            // timeout) so a shutdown does not cause a duplicate.
            let wait = match self.step(false).await {
                Step::Delivered(_) => continue,
                Step::Idle => None,
                Step::Wait(d) => Some(d),
                Step::Failed => Some(Duration::ZERO),
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified(), if wait.is_none() => {}
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
    }

    /// For `watch --once`: delivers everything pending, in order, stopping at
    /// the first failure. Returns true when nothing is left.
    pub async fn drain(&self) -> bool {
        for _ in 0..10_000 {
            match self.step(true).await {
                Step::Idle => return true,
                Step::Delivered(_) => {}
                Step::Failed | Step::Wait(_) => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert!(
            backoff(0, true, None) >= Duration::from_secs(1) && backoff(0, true, None) < Duration::from_millis(1300)
        );
        assert!(backoff(3, true, None) >= Duration::from_secs(8));
        assert!(backoff(30, true, None) <= MAX_BACKOFF.mul_f64(1.2));
        assert!(backoff(0, false, None) >= PERMANENT_BACKOFF);
        assert!(backoff(0, true, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }
}
