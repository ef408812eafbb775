//! The outbox worker: one per sink, delivering that sink's undelivered rows
//! in order. A failed send is retried with capped exponential backoff and
//! jitter (`retry_min` doubling to `retry_max`; 5 min for errors only a
//! config change fixes) and nothing behind it overtakes it. Rows queued while
//! the sink was failing or rate limited are merged into as few messages as
//! the service's size limit allows; a row too big for one message is sent in
//! parts, each part recorded as it is delivered (no duplicates on a retry).
//! The service's rate limits are honoured before sending; messages older than
//! `max_age` move to the dead-letter table (`hawatch outbox`).
//! Polling never waits for a sink: it only commits rows and rings the bell.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Batch, Delivery, DeliveryError, Sink};
use crate::model::notice::Notice;
use crate::store::{now_ms, Store};

pub(crate) const PERMANENT_BACKOFF: Duration = Duration::from_secs(300);
/// An idle worker looks at the store this often anyway (rows put back by
/// `hawatch outbox retry` from another process, quiet hours ending).
pub(crate) const IDLE_CHECK: Duration = Duration::from_secs(5);

pub(crate) struct Worker {
    pub(crate) name: String,
    pub(crate) sink: Sink,
    pub(crate) timeout: Duration,
    pub(crate) store: Store,
    pub(crate) wake: Arc<Notify>,
    pub(crate) max_age: Duration,
    pub(crate) retry_min: Duration,
    pub(crate) retry_max: Duration,
    /// When recent sends finished, for the rate limits.
    pub(crate) sent: Mutex<VecDeque<Instant>>,
    /// When expired rows were last moved to the dead letters (a write
    /// transaction: not on every send).
    pub(crate) expired_at: Mutex<Option<Instant>>,
}

/// How often a worker looks for messages older than `max_age`.
pub(crate) const EXPIRE_EVERY: Duration = Duration::from_secs(30);

/// The delay before attempt `attempts + 1`: `min × 2^attempts` capped at
/// `max`, plus up to 20 % jitter; at least what the service asked for.
pub(crate) fn backoff(
    attempts: i64,
    retryable: bool,
    retry_after: Option<Duration>,
    min: Duration,
    max: Duration,
) -> Duration {
    let base = if retryable {
        let exp = attempts.clamp(0, 20) as u32;
        min.saturating_mul(1u32 << exp).min(max)
    } else {
        PERMANENT_BACKOFF.max(max)
    };
    let jitter = rand::thread_rng().gen_range(0.0..0.2);
    base.mul_f64(1.0 + jitter).max(retry_after.unwrap_or_default())
}

/// How long to wait before another send is allowed: at most `n` sends may
/// finish within any `window` (measured from the finish of earlier sends to
/// the start of the next, so the service sees the same spacing or more).
pub(crate) fn rate_wait(sent: &VecDeque<Instant>, rates: &[(usize, Duration)], now: Instant) -> Duration {
    let mut wait = Duration::ZERO;
    for (n, window) in rates {
        if sent.len() >= *n {
            let nth = sent[sent.len() - n];
            wait = wait.max((nth + *window).saturating_duration_since(now));
        }
    }
    wait
}

/// Outcome of one attempt.
pub(crate) enum Step {
    /// Nothing pending.
    Idle,
    /// Nothing can go now; try again after this long.
    Wait(Duration),
    Delivered,
    Failed,
}

impl Worker {
    pub(crate) fn new(name: &str, sink: Sink, cfg: &crate::config::Sink, store: Store, wake: Arc<Notify>) -> Worker {
        Worker {
            name: name.to_string(),
            sink,
            timeout: cfg.timeout,
            store,
            wake,
            max_age: cfg.max_age,
            retry_min: cfg.retry_min,
            retry_max: cfg.retry_max,
            sent: Mutex::new(VecDeque::new()),
            expired_at: Mutex::new(None),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Option<T> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(store)).await.expect("store task") {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(sink = %self.name, "outbox: {e}");
                None
            }
        }
    }

    /// The largest prefix of `notices` that fits one message (at least one:
    /// a single notice too large is truncated by the sink).
    fn pack(&self, notices: &[Notice], id: &str, test: bool) -> usize {
        let fits = |k: usize| {
            self.sink.fits(Batch {
                id,
                sink: &self.name,
                notices: &notices[..k],
                test,
            })
        };
        let max = notices.len().min(self.sink.limits().max_notices);
        if fits(max) {
            return max;
        }
        let (mut lo, mut hi) = (1usize, max);
        // Invariant: hi does not fit; find the largest k < hi that fits.
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Moves messages older than `max_age` to the dead letters, at most every
    /// [`EXPIRE_EVERY`] (it is a write transaction; not one per send).
    async fn expire_old(&self) {
        {
            let mut at = self.expired_at.lock().unwrap();
            if at.is_some_and(|t| t.elapsed() < EXPIRE_EVERY.min(self.max_age)) {
                return;
            }
            *at = Some(Instant::now());
        }
        let before = chrono::Utc::now() - chrono::Duration::from_std(self.max_age).unwrap_or(chrono::Duration::days(1));
        let name = self.name.clone();
        if let Some(n) = self.blocking(move |s| s.expire(&name, before)).await.filter(|n| *n > 0) {
            tracing::error!(sink = %self.name, messages = n, max_age = ?self.max_age, "undeliverable for longer than max_age: moved to the dead-letter table (`hawatch outbox` lists them, `hawatch outbox retry` sends them again)");
        }
    }

    /// Tries to deliver the head of the queue once. With `ignore_schedule`
    /// (`watch --once`) a row waiting for its backoff is tried at once.
    pub(crate) async fn step(&self, ignore_schedule: bool) -> Step {
        self.expire_old().await;
        let name = self.name.clone();
        let max = self.sink.limits().max_notices;
        let now = now_ms();
        // One message's worth of rows, not the whole backlog.
        let Some((ready, held)) = self.blocking(move |s| s.ready(&name, max, now)).await else {
            return Step::Wait(Duration::from_secs(5));
        };
        let Some(head) = ready.first() else {
            // Rows held by quiet hours are not work left over (`--once`).
            return match held {
                Some(t) if !ignore_schedule => {
                    Step::Wait(Duration::from_millis((t - now).max(0) as u64).min(IDLE_CHECK))
                }
                _ => Step::Idle,
            };
        };
        let due_in = head.next_attempt_ms - now;
        if due_in > 0 && !ignore_schedule {
            return Step::Wait(Duration::from_millis(due_in as u64));
        }
        let rate = rate_wait(&self.sent.lock().unwrap(), self.sink.limits().rates, Instant::now());
        if !rate.is_zero() {
            if ignore_schedule {
                tokio::time::sleep(rate).await;
            } else {
                return Step::Wait(rate);
            }
        }
        let (attempts, head_id) = (head.attempts, head.id);
        // Gather notices row by row (moved, not copied), then keep the prefix that fits.
        let mut all: Vec<Notice> = Vec::new();
        let mut spans: Vec<(i64, usize, usize)> = Vec::new(); // (row, done before, notices in `all`)
        for p in ready {
            if all.len() >= max {
                break;
            }
            spans.push((p.id, p.done, p.notices.len()));
            all.extend(p.notices);
        }
        let id_guess = format!("{}-{}", self.name, head_id);
        let k = self.pack(&all, &id_guess, false);
        // Which rows the first k notices cover.
        let mut full = Vec::new();
        let mut partial = None;
        let mut left = k;
        let mut first = None;
        let mut last = String::new();
        for (row, done, n) in &spans {
            if left == 0 {
                break;
            }
            if first.is_none() {
                first = Some(if *done > 0 {
                    format!("{row}.{done}")
                } else {
                    row.to_string()
                });
            }
            if left >= *n {
                full.push(*row);
                last = row.to_string();
                left -= n;
            } else {
                partial = Some((*row, done + left));
                last = format!("{row}.{}", done + left);
                left = 0;
            }
        }
        all.truncate(k);
        let d = Delivery {
            id: format!("{}-{}-{}", self.name, first.unwrap_or_default(), last),
            sink: self.name.clone(),
            notices: all,
            test: false,
        };
        let involved: Vec<i64> = full.iter().copied().chain(partial.map(|p| p.0)).collect();
        let result = match tokio::time::timeout(self.timeout, self.sink.send(&d)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::timed_out(self.timeout)),
        };
        {
            let mut sent = self.sent.lock().unwrap();
            sent.push_back(Instant::now());
            while sent.len() > 128 {
                sent.pop_front();
            }
        }
        match result {
            Ok(()) => {
                let f = full.clone();
                self.blocking(move |s| s.mark_delivered(&f, partial)).await;
                crate::metrics::telemetry()
                    .sent
                    .get_or_create(&crate::metrics::sink(&self.name))
                    .inc();
                if attempts > 0 {
                    tracing::info!(sink = %self.name, delivery = %d.id, "delivered after {attempts} failed attempt(s)");
                } else {
                    tracing::debug!(sink = %self.name, delivery = %d.id, notices = k, "delivered");
                }
                Step::Delivered
            }
            Err(e) => {
                let wait = backoff(attempts, e.retryable, e.retry_after, self.retry_min, self.retry_max);
                // Log the first failure and then every tenth, not every retry.
                if attempts % 10 == 0 {
                    tracing::warn!(sink = %self.name, delivery = %d.id, attempt = attempts + 1, retry_in = ?wait, "delivery failed: {}", crate::text::visible(&e.message));
                }
                let msg = e.message.clone();
                let next = now_ms() + wait.as_millis() as i64;
                self.blocking(move |s| s.mark_failed(&involved, &msg, next)).await;
                crate::metrics::telemetry()
                    .failed
                    .get_or_create(&crate::metrics::failure(&self.name, e.class.as_str()))
                    .inc();
                Step::Failed
            }
        }
    }

    /// Delivers until shut down.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        loop {
            // A send in flight is allowed to finish (bounded by the sink's
            // timeout) so a shutdown does not cause a duplicate.
            let wait = match self.step(false).await {
                Step::Delivered => continue,
                Step::Idle => None,
                Step::Wait(d) => Some(d),
                Step::Failed => Some(Duration::ZERO),
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified(), if wait.is_none() => {}
                _ = tokio::time::sleep(IDLE_CHECK), if wait.is_none() => {}
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
    }

    /// For `watch --once`: delivers everything pending, in order, stopping at
    /// the first failure. Returns true when nothing is left.
    pub(crate) async fn drain(&self) -> bool {
        for _ in 0..10_000 {
            match self.step(true).await {
                Step::Idle => return true,
                Step::Delivered => {}
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
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let b = |a, r, after| backoff(a, r, after, min, max);
        assert!(b(0, true, None) >= Duration::from_secs(1) && b(0, true, None) < Duration::from_millis(1300));
        assert!(b(3, true, None) >= Duration::from_secs(8));
        assert!(b(30, true, None) <= max.mul_f64(1.2));
        assert!(b(0, false, None) >= PERMANENT_BACKOFF);
        assert!(b(0, true, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        let custom = backoff(10, true, None, Duration::from_millis(100), Duration::from_secs(5));
        assert!(custom >= Duration::from_secs(5) && custom <= Duration::from_secs(6));
    }

    #[test]
    fn rate_limits_space_sends() {
        let t0 = Instant::now();
        let rates = [(5, Duration::from_secs(1)), (100, Duration::from_secs(60))];
        let mut sent: VecDeque<Instant> = (0..4).map(|i| t0 + Duration::from_millis(i * 10)).collect();
        assert_eq!(rate_wait(&sent, &rates, t0 + Duration::from_millis(50)), Duration::ZERO);
        sent.push_back(t0 + Duration::from_millis(40));
        assert_eq!(
            rate_wait(&sent, &rates, t0 + Duration::from_millis(50)),
            Duration::from_millis(950)
        );
        let many: VecDeque<Instant> = (0..100).map(|i| t0 + Duration::from_millis(i * 100)).collect();
        let w = rate_wait(&many, &rates, t0 + Duration::from_secs(10));
        assert_eq!(w, Duration::from_secs(50));
    }
}
