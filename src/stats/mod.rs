//! The `stats` room: the metrics registry. Counters are plain atomics read by `/metrics` in the
//! Prometheus text format; the console's statistics will read the same registry.

pub mod daily;
pub mod logging;
pub mod memory;
pub mod rest;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicI64,
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub c2c_messages_stored: AtomicU64,
    pub c2c_messages_online_only: AtomicU64,
    pub c2c_duplicates: AtomicU64,
    pub commit_batches: AtomicU64,
    pub commit_failures: AtomicU64,
    pub commit_micros_total: AtomicU64,
    pub rest_requests: AtomicU64,
    pub rest_rate_limited: AtomicU64,
    pub group_messages: AtomicU64,
    pub group_messages_dropped: AtomicU64,
    pub retention_deleted: AtomicU64,
    pub retention_sweeps: AtomicU64,
    pub pushes_sent: AtomicU64,
    pub pushes_failed: AtomicU64,
    pub pushes_dropped: AtomicU64,
    /// After-events waiting in the outbox (as of the dispatcher's last round).
    pub webhook_outbox_depth: AtomicI64,
    pub webhook_dropped: AtomicU64,
    /// How long the app backend took to answer webhooks (seconds, `LATENCY_BUCKETS`).
    pub webhook_seconds: Histogram,
    /// C2C group commits: how long each transaction took (seconds, `LATENCY_BUCKETS`) and how
    /// many messages it wrote (`BATCH_BUCKETS`).
    pub commit_seconds: Histogram,
    pub commit_messages: Histogram,
    /// Per-command webhook counts, rendered with the rest (set by the webhook room).
    pub webhook_counts: std::sync::OnceLock<WebhookCounts>,
    /// The day's figures (getappinfo, the console), flushed by [`daily::Statistics`].
    pub today: daily::Tally,
}

/// Upper bounds of the latency histograms' buckets (seconds).
pub const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 2.0];
/// Upper bounds of the commit batch size histogram's buckets (messages).
pub const BATCH_BUCKETS: [f64; 9] = [1.0, 4.0, 16.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

/// A Prometheus histogram of at most 15 buckets whose upper bounds the caller names (the same
/// ones each time); the last slot counts what is above them all.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; 16],
    /// The sum of observed values, in millionths.
    sum_millionths: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, bounds: &[f64], value: f64) {
        let slot = bounds.iter().position(|bound| value <= *bound).unwrap_or(bounds.len()).min(15);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_millionths.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, bounds: &[f64]) {
        out.push_str(&format!("# HELP parley_{name} {help}\n# TYPE parley_{name} histogram\n"));
        let mut cumulative = 0;
        for (slot, count) in self.counts.iter().enumerate().take(bounds.len().min(15) + 1) {
            cumulative += count.load(Ordering::Relaxed);
            let bound = bounds.get(slot).map_or("+Inf".to_string(), |b| b.to_string());
            out.push_str(&format!("parley_{name}_bucket{{le=\"{bound}\"}} {cumulative}\n"));
        }
        let sum = self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6;
        out.push_str(&format!("parley_{name}_sum {sum:.6}\nparley_{name}_count {cumulative}\n"));
    }
}

/// Reads (command, sent, failed, retried, dropped) for `/metrics`.
pub type WebhookCounts = Box<dyn Fn() -> Vec<(String, [u64; 4])> + Send + Sync>;

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// One webhook call took `took`.
    pub fn observe_webhook(&self, took: std::time::Duration) {
        self.webhook_seconds.observe(&LATENCY_BUCKETS, took.as_secs_f64());
    }

    /// One C2C commit of `messages` took `took`.
    pub fn observe_commit(&self, messages: usize, took: std::time::Duration) {
        self.commit_seconds.observe(&LATENCY_BUCKETS, took.as_secs_f64());
        self.commit_messages.observe(&BATCH_BUCKETS, messages as f64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!("# HELP parley_{name} {help}\n# TYPE parley_{name} {kind}\nparley_{name} {value}\n"));
        };
        line(
            "connections",
            "gauge",
            "Open WebSocket connections.",
            self.connections.load(Ordering::Relaxed).to_string(),
        );
        line("logins_total", "counter", "Successful logins.", load(&self.logins).to_string());
        line("login_failures_total", "counter", "Refused logins.", load(&self.login_failures).to_string());
        line(
            "c2c_messages_stored_total",
            "counter",
            "C2C messages committed.",
            load(&self.c2c_messages_stored).to_string(),
        );
        line(
            "c2c_messages_online_only_total",
            "counter",
            "C2C messages delivered without storage.",
            load(&self.c2c_messages_online_only).to_string(),
        );
        line(
            "c2c_duplicates_total",
            "counter",
            "Retried sends answered from the dedup window.",
            load(&self.c2c_duplicates).to_string(),
        );
        line("commit_batches_total", "counter", "Group-commit transactions.", load(&self.commit_batches).to_string());
        line(
            "commit_failures_total",
            "counter",
            "Group-commit transactions that failed.",
            load(&self.commit_failures).to_string(),
        );
        line(
            "commit_seconds_total",
            "counter",
            "Time spent in group-commit transactions.",
            format!("{:.6}", load(&self.commit_micros_total) as f64 / 1e6),
        );
        line("rest_requests_total", "counter", "REST v4 requests.", load(&self.rest_requests).to_string());
        line("group_messages_total", "counter", "Group messages fanned out.", load(&self.group_messages).to_string());
        line(
            "group_messages_dropped_total",
            "counter",
            "Group messages dropped by frequency control.",
            load(&self.group_messages_dropped).to_string(),
        );
        line(
            "pushes_sent_total",
            "counter",
            "Offline pushes accepted by APNs or FCM.",
            load(&self.pushes_sent).to_string(),
        );
        line(
            "pushes_failed_total",
            "counter",
            "Offline pushes refused or given up after retries.",
            load(&self.pushes_failed).to_string(),
        );
        line(
            "pushes_dropped_total",
            "counter",
            "Offline pushes dropped because the push queue was full.",
            load(&self.pushes_dropped).to_string(),
        );
        line(
            "retention_deleted_total",
            "counter",
            "Expired messages deleted by the retention job.",
            load(&self.retention_deleted).to_string(),
        );
        line(
            "retention_sweeps_total",
            "counter",
            "Runs of the retention job (archiving, then deleting) that have finished.",
            load(&self.retention_sweeps).to_string(),
        );
        line(
            "rest_rate_limited_total",
            "counter",
            "REST v4 requests refused by rate limits.",
            load(&self.rest_rate_limited).to_string(),
        );
        line(
            "webhook_outbox_depth",
            "gauge",
            "After-event webhooks waiting for the app backend.",
            self.webhook_outbox_depth.load(Ordering::Relaxed).to_string(),
        );
        line(
            "webhook_events_dropped_total",
            "counter",
            "After-event webhooks given up after keep_secs.",
            load(&self.webhook_dropped).to_string(),
        );
        line(
            "log_lines_dropped_total",
            "counter",
            "Log lines that could not be written (stderr gone or full); the server goes on.",
            logging::DROPPED.load(Ordering::Relaxed).to_string(),
        );
        line(
            "online_users",
            "gauge",
            "Users with at least one logged-in session on this node.",
            self.today.online_now().to_string(),
        );
        self.render_messages(&mut out);
        self.commit_seconds.render(
            &mut out,
            "commit_batch_seconds",
            "C2C commit transactions by duration.",
            &LATENCY_BUCKETS,
        );
        self.commit_messages.render(
            &mut out,
            "commit_batch_messages",
            "C2C commit transactions by messages written.",
            &BATCH_BUCKETS,
        );
        self.webhook_seconds.render(
            &mut out,
            "webhook_seconds",
            "Time the app backend took to answer a webhook.",
            &LATENCY_BUCKETS,
        );
        self.render_webhooks(&mut out);
        out
    }

    /// Messages sent (in) and handed to receivers (out) since the start, by kind.
    fn render_messages(&self, out: &mut String) {
        use daily::Count;
        out.push_str("# HELP parley_messages_total Messages sent (in) and addressed to receivers (out), by kind.\n");
        out.push_str("# TYPE parley_messages_total counter\n");
        for (direction, kind, count) in [
            ("in", "c2c", Count::C2cUp),
            ("in", "group", Count::GroupUp),
            ("in", "avchatroom", Count::LiveUp),
            ("out", "c2c", Count::C2cDown),
            ("out", "group", Count::GroupDown),
        ] {
            let n = self.today.total(count);
            out.push_str(&format!("parley_messages_total{{direction=\"{direction}\",kind=\"{kind}\"}} {n}\n"));
        }
    }

    fn render_webhooks(&self, out: &mut String) {
        let Some(counts) = self.webhook_counts.get() else { return };
        out.push_str("# HELP parley_webhooks_total Webhook calls by command and result.\n");
        out.push_str("# TYPE parley_webhooks_total counter\n");
        for (command, [sent, failed, retried, dropped]) in counts() {
            for (result, n) in [("sent", sent), ("failed", failed), ("retried", retried), ("dropped", dropped)] {
                out.push_str(&format!("parley_webhooks_total{{command=\"{command}\",result=\"{result}\"}} {n}\n"));
            }
        }
    }
}
