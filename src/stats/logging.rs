//! Logging that can never take the server down. tracing-subscriber's formatter reports a failed
//! write with `eprintln!`, which panics when stderr itself is what failed (its reader gone, its
//! disk full) — and the panic kills whatever was logging: a request, a session, the message
//! writer. Here a line that cannot be written is dropped and counted (`/metrics`:
//! `parley_log_lines_dropped_total`), and the formatter's own error reports are off.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Log lines that could not be written since start.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Installs the global subscriber (filter from `RUST_LOG`, default `info`), writing to stderr.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(|| StderrOrDrop)
        .log_internal_errors(false)
        .init();
}

/// Stderr that reports every write as done: a line it could not write is counted, not returned
/// as an error to the formatter.
pub struct StderrOrDrop;

impl Write for StderrOrDrop {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if io::stderr().write_all(buf).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

/// Prints a line on stdout, or drops it when stdout cannot take it (`println!` would panic).
pub fn say(line: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if out.write_fmt(line).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush()).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}
