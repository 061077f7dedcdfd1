//! Giving freed memory back. glibc's allocator keeps what the server frees in per-thread arenas
//! and returns little of it: in the 10-minute soak the live heap levelled off after five minutes
//! (the dedup window full) at about 110 MB while RSS went on to 200–300 MB, and stayed there
//! after every connection had closed. A thread asks glibc to release its free pages every
//! `TRIM_EVERY`; the live heap is untouched.

use std::time::Duration;

/// How often free memory is handed back to the system.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Starts the trimming thread (glibc on Linux only; elsewhere nothing to do).
pub fn start_trimming() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::thread::Builder::new().name("malloc-trim".into()).spawn(|| loop {
            std::thread::sleep(TRIM_EVERY);
            // SAFETY: malloc_trim takes no pointers; it only releases free pages of the arenas.
            unsafe {
                libc::malloc_trim(0);
            }
        });
        if let Err(e) = started {
            tracing::warn!(error = %e, "memory trimming thread not started");
        }
    }
}
