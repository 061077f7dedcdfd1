//! Lets a session stop reading its socket and start again: while paused the stream of the
//! client's bytes answers "not yet", so the client's writes wait in TCP, and the session's
//! mailbox (deliveries, kicks) goes on being served.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;

/// The switch, shared by a session and the stream of its socket (one thread: the session's).
#[derive(Default)]
pub struct ReadPause {
    paused: Cell<bool>,
    waiting: Cell<Option<Waker>>,
}

impl ReadPause {
    pub fn pause(&self) {
        self.paused.set(true);
    }

    pub fn resume(&self) {
        self.paused.set(false);
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
    }
}

/// A stream that yields nothing while its `ReadPause` is paused.
pub struct Pausable<S> {
    inner: S,
    pause: Rc<ReadPause>,
}

impl<S> Pausable<S> {
    pub fn new(inner: S, pause: Rc<ReadPause>) -> Pausable<S> {
        Pausable { inner, pause }
    }
}

impl<S: Stream + Unpin> Stream for Pausable<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.pause.paused.get() {
            self.pause.waiting.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn yields_nothing_while_paused_and_resumes_where_it_stopped() {
        let pause = Rc::new(ReadPause::default());
        let mut stream = Pausable::new(futures_util::stream::iter([1, 2, 3]), pause.clone());
        assert_eq!(stream.next().await, Some(1));
        pause.pause();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), stream.next()).await;
        assert!(waited.is_err(), "a paused stream yields nothing");
        pause.resume();
        assert_eq!(stream.next().await, Some(2));
        assert_eq!(stream.next().await, Some(3));
    }
}
