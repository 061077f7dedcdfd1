//! The `stats` room: the metrics registry. Counters are plain atomics read by `/metrics` in the
//! Prometheus text format; the console's statistics will read the same registry.

pub mod logging;
pub mod memory;

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
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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
            "log_lines_dropped_total",
            "counter",
            "Log lines that could not be written (stderr gone or full); the server goes on.",
            logging::DROPPED.load(Ordering::Relaxed).to_string(),
        );
        out
    }
}
