//! Brute-force lockout (70050): after `limit` failed UserSig checks from one identifier, or from
//! one source address, within a window, that identifier or address is locked until the window
//! ends. A locked address is refused everything, a good UserSig too. A locked identifier is
//! refused every wrong UserSig (70050, not the reason), but a good one still passes: otherwise
//! anyone could lock a user, or the app admin's REST calls, out by sending junk in their name.
//! Windows are fixed: the first failure opens one.
//!
//! In memory, per node: the nodes of a cluster each count their own failures. A success resets
//! nothing (an attacker's own good logins must not wipe the address's count); counts simply age
//! out with their window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked at once. Beyond it, expired windows are dropped; if all are live, an arbitrary
/// one makes room (UserSigs cannot be guessed anyway; this caps memory).
const MAX_TRACKED: usize = 100_000;
/// How often a full map may be swept for expired windows (a sweep reads every entry).
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Identifiers are counted by at most this many bytes (UserIDs have 32), to bound memory.
const MAX_KEY_BYTES: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Source {
    Identifier(String),
    Address(IpAddr),
}

/// What a lock holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locked {
    /// Every check from the address.
    Address,
    /// The identifier's wrong UserSigs.
    Identifier,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    opened: Instant,
    failures: u32,
}

#[derive(Debug)]
struct Counts {
    windows: HashMap<Source, Window>,
    last_sweep: Option<Instant>,
}

#[derive(Debug)]
pub struct Lockout {
    /// 0: no lockout.
    limit: u32,
    window: Duration,
    counts: Mutex<Counts>,
}

impl Lockout {
    pub fn new(limit: u32, window: Duration) -> Lockout {
        Lockout { limit, window, counts: Mutex::new(Counts { windows: HashMap::new(), last_sweep: None }) }
    }

    /// Which of `address` and `identifier` has used up its failures for the current window (the
    /// address first: its lock is the stronger).
    pub fn locked(&self, identifier: &str, address: Option<IpAddr>, now: Instant) -> Option<Locked> {
        if self.limit == 0 {
            return None;
        }
        let counts = self.lock();
        let used_up = |source: &Source| {
            counts.windows.get(source).is_some_and(|w| self.is_open(w, now) && w.failures >= self.limit)
        };
        let [identifier, address @ ..] = &sources(identifier, address)[..] else { return None };
        if address.iter().any(used_up) {
            Some(Locked::Address)
        } else if used_up(identifier) {
            Some(Locked::Identifier)
        } else {
            None
        }
    }

    /// Counts a failed check against both `identifier` and `address`.
    pub fn failed(&self, identifier: &str, address: Option<IpAddr>, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut counts = self.lock();
        for source in sources(identifier, address) {
            if let Some(window) = counts.windows.get_mut(&source) {
                if self.is_open(window, now) {
                    window.failures = window.failures.saturating_add(1);
                } else {
                    *window = Window { opened: now, failures: 1 };
                }
                continue;
            }
            if counts.windows.len() >= MAX_TRACKED && !self.sweep(&mut counts, now) {
                if let Some(any) = counts.windows.keys().next().cloned() {
                    counts.windows.remove(&any);
                }
            }
            counts.windows.insert(source, Window { opened: now, failures: 1 });
        }
    }

    /// Drops expired windows if the last sweep is old enough; whether there is room now.
    fn sweep(&self, counts: &mut Counts, now: Instant) -> bool {
        if counts.last_sweep.is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY) {
            return false;
        }
        counts.last_sweep = Some(now);
        counts.windows.retain(|_, w| now.saturating_duration_since(w.opened) < self.window);
        let room = counts.windows.len() < MAX_TRACKED;
        if !room {
            tracing::warn!(tracked = counts.windows.len(), "login lockout table full; live windows make room");
        }
        room
    }

    fn is_open(&self, window: &Window, now: Instant) -> bool {
        now.saturating_duration_since(window.opened) < self.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counts stay consistent even if a holder panicked: each update is a single write.
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().windows.len()
    }
}

fn sources(identifier: &str, address: Option<IpAddr>) -> Vec<Source> {
    let mut end = identifier.len().min(MAX_KEY_BYTES);
    while !identifier.is_char_boundary(end) {
        end -= 1;
    }
    let mut sources = vec![Source::Identifier(identifier[..end].to_string())];
    sources.extend(address.map(Source::Address));
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn the_limit_locks_the_identifier_and_the_address_for_the_rest_of_the_window() {
        let lockout = Lockout::new(3, MINUTE);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(lockout.locked("alice", ip(1), t0), None, "after {i} failures");
            lockout.failed("alice", ip(1), t0 + Duration::from_secs(i));
        }
        let later = t0 + Duration::from_secs(5);
        assert_eq!(lockout.locked("alice", ip(9), later), Some(Locked::Identifier), "the identifier, from anywhere");
        assert_eq!(lockout.locked("bob", ip(1), later), Some(Locked::Address), "the address, for anyone");
        assert_eq!(lockout.locked("alice", ip(1), later), Some(Locked::Address), "the address's lock first");
        assert_eq!(lockout.locked("bob", ip(2), later), None, "others are not touched");
        assert!(lockout.locked("alice", ip(1), t0 + Duration::from_secs(59)).is_some());
        assert_eq!(lockout.locked("alice", ip(1), t0 + MINUTE), None, "the window ended");
    }

    #[test]
    fn failures_in_an_old_window_do_not_add_up() {
        let lockout = Lockout::new(3, MINUTE);
        let t0 = Instant::now();
        lockout.failed("alice", None, t0);
        lockout.failed("alice", None, t0 + Duration::from_secs(1));
        lockout.failed("alice", None, t0 + MINUTE);
        assert_eq!(lockout.locked("alice", None, t0 + MINUTE), None);
        lockout.failed("alice", None, t0 + MINUTE);
        lockout.failed("alice", None, t0 + MINUTE);
        assert_eq!(lockout.locked("alice", None, t0 + MINUTE), Some(Locked::Identifier));
    }

    #[test]
    fn a_zero_limit_never_locks() {
        let lockout = Lockout::new(0, MINUTE);
        let t0 = Instant::now();
        for _ in 0..100 {
            lockout.failed("alice", ip(1), t0);
        }
        assert_eq!(lockout.locked("alice", ip(1), t0), None);
        assert_eq!(lockout.tracked(), 0);
    }

    #[test]
    fn memory_is_bounded_and_expired_windows_make_room() {
        let lockout = Lockout::new(3, MINUTE);
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED {
            lockout.failed(&format!("u{i}"), None, t0);
        }
        assert_eq!(lockout.tracked(), MAX_TRACKED);
        // Full of live windows: a newcomer takes another's place instead of growing the map, and
        // is counted.
        lockout.failed("late", None, t0 + Duration::from_secs(1));
        lockout.failed("late", None, t0 + Duration::from_secs(1));
        lockout.failed("late", None, t0 + Duration::from_secs(1));
        assert_eq!(lockout.tracked(), MAX_TRACKED);
        assert_eq!(lockout.locked("late", None, t0 + Duration::from_secs(1)), Some(Locked::Identifier));
        // Once those windows expire, a sweep frees the room (late's, a second younger, stays).
        lockout.failed("later", None, t0 + MINUTE);
        assert_eq!(lockout.tracked(), 2);
        // Long identifiers are counted by their first bytes only.
        let long = "é".repeat(100);
        lockout.failed(&long, None, t0 + MINUTE);
        assert!(lockout.lock().windows.keys().all(|k| match k {
            Source::Identifier(id) => id.len() <= MAX_KEY_BYTES,
            Source::Address(_) => true,
        }));
    }
}
