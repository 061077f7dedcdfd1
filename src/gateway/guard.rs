//! Judges each WebSocket frame by its header, as the bytes arrive, before the codec buffers its
//! payload. The codec (actix-http) waits for a whole frame before it checks the size limit, so a
//! header announcing 2^62 bytes would hold the connection until the login timeout; it also
//! accepts reserved bits no extension gave a meaning. The guard refuses both at once and says
//! with which close code (RFC 6455 §7.4.1); the session reads the verdict when the stream fails.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web_actors::ws::CloseCode;
use futures_util::Stream;

/// Why the guard stopped a connection, shared with its session.
pub type Verdict = Rc<Cell<Option<CloseCode>>>;

/// Longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

enum Scan {
    /// Reading a header: its bytes so far.
    Header { bytes: [u8; MAX_HEADER], have: usize },
    /// Skipping a payload the header allowed: bytes left.
    Payload { left: u64 },
}

pub struct FrameGuard<S> {
    inner: S,
    scan: Scan,
    max_payload: u64,
    verdict: Verdict,
    /// Set once a frame was refused: the bytes before it went on; the error comes next.
    refused: bool,
}

impl<S> FrameGuard<S> {
    pub fn new(inner: S, max_payload: usize, verdict: Verdict) -> FrameGuard<S> {
        FrameGuard {
            inner,
            scan: Scan::Header { bytes: [0; MAX_HEADER], have: 0 },
            max_payload: max_payload as u64,
            verdict,
            refused: false,
        }
    }

    /// Follows the frames through `chunk`; the offset of the first refused header, if any.
    fn follow(&mut self, chunk: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < chunk.len() {
            match &mut self.scan {
                Scan::Payload { left } => {
                    let skip = (*left).min((chunk.len() - at) as u64);
                    *left -= skip;
                    at += skip as usize;
                    if *left == 0 {
                        self.scan = Scan::Header { bytes: [0; MAX_HEADER], have: 0 };
                    }
                }
                Scan::Header { bytes, have } => {
                    // Where this header began in `chunk` (0 when it began in an earlier one).
                    let start = at.saturating_sub(*have);
                    bytes[*have] = chunk[at];
                    *have += 1;
                    at += 1;
                    match judge(&bytes[..*have], self.max_payload) {
                        Judged::NeedMore => {}
                        Judged::Refused(code) => {
                            self.verdict.set(Some(code));
                            // The header may have begun in an earlier chunk: refuse from here.
                            return Some(start);
                        }
                        Judged::Frame { payload } => {
                            self.scan = if payload == 0 {
                                Scan::Header { bytes: [0; MAX_HEADER], have: 0 }
                            } else {
                                Scan::Payload { left: payload }
                            };
                        }
                    }
                }
            }
        }
        None
    }
}

enum Judged {
    NeedMore,
    Refused(CloseCode),
    Frame { payload: u64 },
}

/// A client frame's header, judged as soon as it is complete.
fn judge(header: &[u8], max_payload: u64) -> Judged {
    if header.len() < 2 {
        return Judged::NeedMore;
    }
    let (first, second) = (header[0], header[1]);
    let fin = first & 0x80 != 0;
    let opcode = first & 0x0F;
    let masked = second & 0x80 != 0;
    let (length_bytes, short) = match second & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    // Reserved bits (no extension is negotiated), reserved opcodes, fragmented control frames,
    // unmasked client frames: protocol errors.
    if first & 0x70 != 0 || matches!(opcode, 0x3..=0x7 | 0xB..=0xF) || (opcode >= 0x8 && !fin) || !masked {
        return Judged::Refused(CloseCode::Protocol);
    }
    if opcode >= 0x8 && short.is_none_or(|n| n > 125) {
        return Judged::Refused(CloseCode::Protocol);
    }
    if header.len() < 2 + length_bytes {
        return Judged::NeedMore;
    }
    let payload = match short {
        Some(n) => n,
        None => header[2..2 + length_bytes].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)),
    };
    if payload >> 63 != 0 {
        return Judged::Refused(CloseCode::Protocol);
    }
    if payload > max_payload {
        return Judged::Refused(CloseCode::Size);
    }
    if header.len() < 2 + length_bytes + 4 {
        return Judged::NeedMore;
    }
    Judged::Frame { payload }
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.refused {
            let refusal = std::io::Error::other("frame refused by its header");
            return Poll::Ready(Some(Err(PayloadError::Io(refusal))));
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.follow(&chunk) {
                None => Poll::Ready(Some(Ok(chunk))),
                Some(offset) => {
                    self.refused = true;
                    if offset > 0 {
                        Poll::Ready(Some(Ok(chunk.slice(..offset))))
                    } else {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(first: u8, length: u64) -> Vec<u8> {
        let mut out = vec![first];
        match length {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        out.extend_from_slice(&[9, 9, 9, 9]);
        out
    }

    fn verdict_of(bytes: &[u8], split: usize) -> (Option<CloseCode>, Option<usize>) {
        let verdict: Verdict = Rc::default();
        let mut guard = FrameGuard::new((), 64 * 1024, verdict.clone());
        let split = split.min(bytes.len());
        let first = guard.follow(&bytes[..split]);
        let refused = first.or_else(|| guard.follow(&bytes[split..]).map(|o| o + split));
        (verdict.get(), refused)
    }

    #[test]
    fn frames_within_the_rules_pass_whatever_the_chunking() {
        let mut stream = header(0x81, 5);
        stream.extend_from_slice(b"hello");
        stream.extend(header(0x01, 70_000 - 65_536 + 100));
        stream.extend(vec![b'x'; 70_000 - 65_536 + 100]);
        stream.extend(header(0x89, 0));
        for split in 0..stream.len() {
            assert_eq!(verdict_of(&stream, split), (None, None), "split at {split}");
        }
    }

    #[test]
    fn headers_are_judged_before_their_payload() {
        let mut stream = header(0x81, 2);
        stream.extend_from_slice(b"{}");
        let good = stream.len();
        for (first, length, code) in [
            (0x81, 70_000, CloseCode::Size),
            (0x81, 1 << 62, CloseCode::Size),
            (0x81, u64::MAX, CloseCode::Protocol),
            (0xC1, 2, CloseCode::Protocol),
            (0x83, 1, CloseCode::Protocol),
            (0x8B, 1, CloseCode::Protocol),
            (0x09, 1, CloseCode::Protocol),
            (0x89, 126, CloseCode::Protocol),
        ] {
            let mut bytes = stream.clone();
            bytes.extend(header(first, length));
            for split in 0..bytes.len() {
                let (verdict, refused_at) = verdict_of(&bytes, split);
                assert_eq!(verdict, Some(code), "{first:#x} {length} split {split}");
                // The good frame before it passes whole; the bad header never does.
                let refused_at = refused_at.unwrap();
                assert!(refused_at >= good && refused_at < bytes.len(), "{first:#x} split {split}: {refused_at}");
            }
        }
    }

    #[test]
    fn unmasked_client_frames_are_refused() {
        assert_eq!(verdict_of(&[0x81, 0x02, b'{', b'}'], 4).0, Some(CloseCode::Protocol));
    }
}
