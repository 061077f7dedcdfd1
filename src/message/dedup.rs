//! The C2C writer's memory of recent sends by (sender, recipient, MsgRandom), so a retried send
//! gets its first answer back instead of being stored twice.
//!
//! At tens of thousands of sends a second, a 300-second window holds millions of sends, so each
//! is kept small — a hash of its two users, its MsgRandom and the numbers its receipt is made of
//! — and sends expire in the order they were remembered, a few per batch, instead of in a pass
//! over the whole map that would stall the writer (and every sender waiting on it).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

use super::{msg_key, Receipt};

/// (hash of sender and recipient, MsgRandom), made once per send. The hash is keyed per
/// process; two different conversations would have to share all 64 bits of it and also the
/// MsgRandom to be confused.
pub type Key = (u64, u32);

/// What a receipt is rebuilt from (its MsgKey is `msg_key(msg_seq, MsgRandom, msg_time)`).
#[derive(Clone, Copy)]
struct Remembered {
    at: i64,
    seq: i64,
    msg_time: i64,
    msg_seq: u32,
}

/// A key's first half is already a keyed hash of all three parts (users and MsgRandom): the
/// map uses it as it is instead of hashing it again. MsgRandom is the client's choice, so it
/// goes into the keyed hash, not into a mix of its own after it: with a fixed mix a client
/// could choose randoms that all land on one place of the map.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    /// Not used by `Key` (a u64 then a u32); kept correct for any other input.
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// The MsgRandom, already in the hash.
    fn write_u32(&mut self, _: u32) {}
}

pub struct DedupWindow {
    window_secs: i64,
    hasher: RandomState,
    sends: HashMap<Key, Remembered, BuildHasherDefault<Prehashed>>,
    /// Keys in the order they were remembered, for expiry from the front.
    order: VecDeque<(i64, Key)>,
}

impl DedupWindow {
    pub fn new(window_secs: i64) -> DedupWindow {
        DedupWindow { window_secs, hasher: RandomState::new(), sends: HashMap::default(), order: VecDeque::new() }
    }

    pub fn key(&self, from: &str, to: &str, random: u32) -> Key {
        let mut hasher = self.hasher.build_hasher();
        // `str` hashes its bytes and a terminator, so ("ab", "c") and ("a", "bc") differ.
        from.hash(&mut hasher);
        to.hash(&mut hasher);
        random.hash(&mut hasher);
        (hasher.finish(), random)
    }

    /// The receipt of an earlier send with the same sender, recipient and MsgRandom.
    pub fn get(&self, key: Key) -> Option<Receipt> {
        let random = key.1;
        self.sends.get(&key).map(|r| Receipt {
            seq: r.seq,
            msg_key: msg_key(r.msg_seq, random, r.msg_time),
            msg_time: r.msg_time,
            msg_seq: r.msg_seq,
            duplicate: true,
        })
    }

    /// Remembers a send answered with `receipt` at `at` (seconds).
    pub fn remember(&mut self, key: Key, at: i64, receipt: &Receipt) {
        let remembered = Remembered { at, seq: receipt.seq, msg_time: receipt.msg_time, msg_seq: receipt.msg_seq };
        self.sends.insert(key, remembered);
        self.order.push_back((at, key));
    }

    /// Forgets sends older than the window. A key remembered again later keeps its newer entry.
    pub fn expire(&mut self, now: i64) {
        while let Some(&(at, key)) = self.order.front() {
            if now - at <= self.window_secs {
                break;
            }
            self.order.pop_front();
            if self.sends.get(&key).is_some_and(|r| r.at == at) {
                self.sends.remove(&key);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(seq: i64, msg_seq: u32, msg_time: i64, random: u32) -> Receipt {
        Receipt { seq, msg_key: msg_key(msg_seq, random, msg_time), msg_time, msg_seq, duplicate: false }
    }

    #[test]
    fn finds_a_send_by_its_users_and_random_only() {
        let mut window = DedupWindow::new(300);
        window.remember(window.key("alice", "bob", 7), 1_000, &receipt(3, 44, 999, 7));
        let found = window.get(window.key("alice", "bob", 7)).expect("remembered");
        assert_eq!((found.seq, found.msg_seq, found.msg_time), (3, 44, 999));
        assert_eq!(found.msg_key, msg_key(44, 7, 999));
        assert!(found.duplicate);
        assert!(window.get(window.key("alice", "bob", 8)).is_none());
        assert!(window.get(window.key("bob", "alice", 7)).is_none());
        assert!(window.get(window.key("alic", "ebob", 7)).is_none());
    }

    /// Randoms a client picks to share their low bits still spread over the map's places.
    #[test]
    fn chosen_randoms_do_not_crowd_one_place_of_the_map() {
        let window = DedupWindow::new(300);
        let places: std::collections::HashSet<u64> = (0..4096u32)
            .map(|j| BuildHasherDefault::<Prehashed>::default().hash_one(window.key("alice", "bob", j << 20)) & 0xfff)
            .collect();
        assert!(places.len() > 2000, "{} places of 4,096", places.len());
    }

    #[test]
    fn expires_in_order_and_keeps_a_renewed_key() {
        let mut window = DedupWindow::new(10);
        window.remember(window.key("a", "b", 1), 100, &receipt(1, 1, 100, 1));
        window.remember(window.key("a", "b", 2), 105, &receipt(2, 2, 105, 2));
        window.remember(window.key("a", "b", 1), 108, &receipt(5, 5, 108, 1));
        window.expire(111);
        // The first entry of key 1 expired, but the key was remembered again at 108.
        assert_eq!(window.get(window.key("a", "b", 1)).map(|r| r.seq), Some(5));
        assert_eq!(window.get(window.key("a", "b", 2)).map(|r| r.seq), Some(2));
        window.expire(116);
        assert!(window.get(window.key("a", "b", 2)).is_none());
        assert!(window.get(window.key("a", "b", 1)).is_some());
        window.expire(119);
        assert_eq!(window.len(), 0);
        assert!(window.order.is_empty());
    }
}
