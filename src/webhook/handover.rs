//! Order kept around before-events: each key's items (a sender's messages to one peer or group)
//! are handed on in the order they arrived, while their callbacks to the app backend run at
//! once. A send takes its turn when it arrives (`Handover::turn`), asks the backend, waits for
//! the turn before it (`Turn::wait`), hands itself on, and frees its turn (drop).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

#[derive(Default)]
pub struct Handover {
    /// Per key: the number of its last turn still held, and the signal that frees it.
    tails: Mutex<HashMap<String, (u64, oneshot::Receiver<()>)>>,
    numbers: AtomicU64,
}

impl Handover {
    /// The next turn of `key`, behind the turns of `key` already taken.
    pub fn turn(self: &Arc<Self>, key: String) -> Turn {
        let number = self.numbers.fetch_add(1, Ordering::Relaxed);
        let (done, freed) = oneshot::channel();
        let earlier = match self.tails.lock() {
            Ok(mut tails) => tails.insert(key.clone(), (number, freed)).map(|(_, earlier)| earlier),
            Err(_) => None,
        };
        Turn { handover: self.clone(), key, number, earlier, done: Some(done) }
    }
}

pub struct Turn {
    handover: Arc<Handover>,
    key: String,
    number: u64,
    earlier: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

impl Turn {
    /// Waits until every earlier turn of the key has been freed.
    pub async fn wait(&mut self) {
        if let Some(earlier) = self.earlier.take() {
            // Freed or dropped, the earlier turn is over.
            let _ = earlier.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        if let Ok(mut tails) = self.handover.tails.lock() {
            if tails.get(&self.key).is_some_and(|(n, _)| *n == self.number) {
                tails.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_of_a_key_follow_their_arrival_and_other_keys_do_not_wait() {
        let handover = Arc::new(Handover::default());
        let first = handover.turn("a".into());
        let mut second = handover.turn("a".into());
        let mut other = handover.turn("b".into());
        // Another key's turn is free at once.
        tokio::time::timeout(std::time::Duration::from_millis(100), other.wait()).await.expect("b waits for no one");
        // The second turn of "a" waits for the first.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(100), second.wait()).await;
        assert!(waited.is_err(), "the second turn went before the first was freed");
        drop(first);
        tokio::time::timeout(std::time::Duration::from_millis(100), second.wait()).await.expect("freed");
        drop(second);
        assert!(handover.tails.lock().unwrap().get("a").is_none(), "the last turn cleans up");
    }
}
