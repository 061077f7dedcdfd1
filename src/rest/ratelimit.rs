//! Per-app REST rate limits (REQUIREMENTS §1): a token bucket per class of command.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateClass {
    /// Most commands: 200 calls/s by default.
    Normal,
    /// multiaccount_import, account_delete, account_check: 100 calls/s by default.
    Bulk,
    /// open_msg_svc/get_history: a twentieth of the normal rate (Tencent: 10/s).
    Archive,
}

struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Bucket {
        Bucket { rate: f64::from(rate), tokens: f64::from(rate), last: Instant::now() }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub struct RateLimits {
    normal: Mutex<Bucket>,
    bulk: Mutex<Bucket>,
    archive: Mutex<Bucket>,
}

impl RateLimits {
    /// A rate of 0 turns that limit off.
    pub fn new(normal_per_sec: u32, bulk_per_sec: u32) -> RateLimits {
        let archive_per_sec = if normal_per_sec == 0 { 0 } else { (normal_per_sec / 20).max(1) };
        RateLimits {
            normal: Mutex::new(Bucket::new(normal_per_sec)),
            bulk: Mutex::new(Bucket::new(bulk_per_sec)),
            archive: Mutex::new(Bucket::new(archive_per_sec)),
        }
    }

    /// The calls per second allowed to `class` (0: unlimited).
    pub fn rate(&self, class: RateClass) -> u32 {
        let bucket = match class {
            RateClass::Normal => &self.normal,
            RateClass::Bulk => &self.bulk,
            RateClass::Archive => &self.archive,
        };
        bucket.lock().map(|b| b.rate as u32).unwrap_or(0)
    }

    /// Whether one more call of `class` is allowed: this node's token bucket, or in a cluster
    /// the cluster's count of the current second (a fixed window; Redis unreachable → allowed).
    pub async fn allow_in(&self, cluster: Option<&crate::cluster::redis::RedisBus>, class: RateClass) -> bool {
        let Some(cluster) = cluster else {
            return self.allow(class);
        };
        let rate = self.rate(class);
        if rate == 0 {
            return true;
        }
        let name = format!("rest-{class:?}-{}", crate::now_secs());
        match cluster.count(&name, std::time::Duration::from_secs(2)).await {
            Ok(count) => count <= u64::from(rate),
            Err(e) => {
                tracing::warn!(error = %e, "cluster rate count unavailable; call allowed");
                true
            }
        }
    }

    pub fn allow(&self, class: RateClass) -> bool {
        let bucket = match class {
            RateClass::Normal => &self.normal,
            RateClass::Bulk => &self.bulk,
            RateClass::Archive => &self.archive,
        };
        match bucket.lock() {
            Ok(mut b) if b.rate > 0.0 => b.take(Instant::now()),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_rate_then_refills() {
        let mut bucket = Bucket::new(100);
        let start = bucket.last;
        let allowed = (0..150).filter(|_| bucket.take(start)).count();
        assert_eq!(allowed, 100);
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(20)));
    }

    #[test]
    fn zero_means_unlimited() {
        let limits = RateLimits::new(0, 0);
        assert!((0..10_000).all(|_| limits.allow(RateClass::Normal)));
    }
}
