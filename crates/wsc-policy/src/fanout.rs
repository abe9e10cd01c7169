//! One reading of an input, handed out in shared chunks to several
//! readers ("taps"), each over a byte range of it.
//!
//! The reading thread reads into reused buffers; each chunk goes, without
//! a copy, to every tap whose range it meets. Each tap's queue is bounded,
//! so the chunks alive at once are bounded whatever the input's size: the
//! reading waits for the slowest tap.

use std::io::{self, BufRead, Read};
use std::ops::Deref;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes read at once, and the size of a chunk.
const READ_CHUNK: usize = 512 * 1024;
/// Chunks queued for each tap.
const READ_QUEUE: usize = 4;
/// Buffers kept for reuse.
const POOL: usize = 2 * READ_QUEUE + 2;

/// A piece of one chunk, shared with the other taps.
pub(crate) struct Slice {
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
    /// Offset of the first byte in the input.
    at: u64,
}

impl Slice {
    /// Offset of the first byte in the input.
    pub(crate) fn at(&self) -> u64 {
        self.at
    }
}

impl Deref for Slice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

/// What a tap receives.
enum Chunk {
    Data(Slice),
    /// The end of the tap's range, or of the input.
    End,
    /// A read failed.
    Failed(io::Error),
}

/// The reading side of one tap.
struct Tap {
    from: u64,
    /// `None`: to the end of the input.
    to: Option<u64>,
    tx: SyncSender<Chunk>,
    /// Ended, or its reader is gone.
    done: bool,
    /// Its reader gone before its end stops the reading.
    essential: bool,
}

/// The taps of one input, before the reading starts.
pub(crate) struct Fanout {
    taps: Vec<Tap>,
    pool: SyncSender<Vec<u8>>,
    pool_rx: Receiver<Vec<u8>>,
}

impl Fanout {
    pub(crate) fn new() -> Self {
        let (pool, pool_rx) = sync_channel(POOL);
        Fanout { taps: Vec::new(), pool, pool_rx }
    }

    /// A tap over the bytes `from..to` of the input (`to`: `None` for the
    /// end of the input). Its reader may stop early; the others go on.
    pub(crate) fn tap(&mut self, from: u64, to: Option<u64>) -> TapReader {
        self.add(from, to, false)
    }

    /// A tap over the whole input whose reader stopping early (it failed)
    /// stops the reading: the other readers then get an error.
    pub(crate) fn essential_tap(&mut self) -> TapReader {
        self.add(0, None, true)
    }

    fn add(&mut self, from: u64, to: Option<u64>, essential: bool) -> TapReader {
        let (tx, rx) = sync_channel(READ_QUEUE);
        self.taps.push(Tap { from, to, tx, done: false, essential });
        TapReader { rx, pool: self.pool.clone(), ended: false, current: None, used: 0 }
    }

    /// Reads `input` to its end and hands it out: the reading thread's
    /// body. It stops early when no tap is left, or when an essential
    /// tap's reader is gone before the end.
    pub(crate) fn run<R: Read>(mut self, mut input: R) {
        let mut at = 0u64;
        self.end_taps_before(at);
        while self.taps.iter().any(|t| !t.done) {
            let mut buf = self.pool_rx.try_recv().unwrap_or_default();
            buf.resize(READ_CHUNK, 0);
            let n = loop {
                match input.read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        for t in self.taps.iter_mut().filter(|t| !t.done) {
                            let _ = t.tx.send(Chunk::Failed(io::Error::new(e.kind(), e.to_string())));
                            t.done = true;
                        }
                        return;
                    }
                }
            };
            if n == 0 {
                break;
            }
            buf.truncate(n);
            let buf = Arc::new(buf);
            let end = at + n as u64;
            for t in self.taps.iter_mut().filter(|t| !t.done) {
                let from = t.from.max(at);
                let to = t.to.map_or(end, |to| to.min(end));
                if from < to {
                    // Both bounds are within this chunk.
                    let slice =
                        Slice { buf: Arc::clone(&buf), start: (from - at) as usize, end: (to - at) as usize, at: from };
                    if t.tx.send(Chunk::Data(slice)).is_err() {
                        if t.essential {
                            // The evaluation failed: reading on is pointless,
                            // and the other readers get an error, not an end.
                            return;
                        }
                        t.done = true;
                    }
                }
            }
            drop(buf);
            at = end;
            self.end_taps_before(at);
        }
        for t in self.taps.iter_mut().filter(|t| !t.done) {
            let _ = t.tx.send(Chunk::End);
            t.done = true;
        }
    }

    /// Ends the taps whose range ends by `at`.
    fn end_taps_before(&mut self, at: u64) {
        for t in self.taps.iter_mut().filter(|t| !t.done && t.to.is_some_and(|to| to <= at)) {
            let _ = t.tx.send(Chunk::End);
            t.done = true;
        }
    }
}

/// One tap's chunks, in order. A reading thread gone without an end is a
/// failure, never an end.
pub(crate) struct TapReader {
    rx: Receiver<Chunk>,
    pool: SyncSender<Vec<u8>>,
    ended: bool,
    /// The slice [`BufRead`] hands out, and how much of it is consumed.
    current: Option<Slice>,
    used: usize,
}

impl TapReader {
    /// The next slice, `None` at the end of the tap.
    pub(crate) fn next_slice(&mut self) -> io::Result<Option<Slice>> {
        if self.ended {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok(Chunk::Data(s)) => Ok(Some(s)),
            Ok(Chunk::End) => {
                self.ended = true;
                Ok(None)
            }
            Ok(Chunk::Failed(e)) => Err(e),
            Err(_) => Err(io::Error::other("the reading thread stopped")),
        }
    }

    /// Gives a slice back: its buffer is reused once no tap holds it.
    pub(crate) fn done_with(&self, slice: Slice) {
        if let Some(buf) = Arc::into_inner(slice.buf) {
            // A full pool only means the buffer is not reused.
            let _ = self.pool.try_send(buf);
        }
    }

    /// SHA-256 and length of the rest of the tap.
    pub(crate) fn digest(&mut self) -> io::Result<([u8; 32], u64)> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut len = 0u64;
        while let Some(s) = self.next_slice()? {
            h.update(&*s);
            len += s.len() as u64;
            self.done_with(s);
        }
        Ok((h.finalize().into(), len))
    }
}

impl Read for TapReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.fill_buf()?;
        let n = got.len().min(buf.len());
        buf[..n].copy_from_slice(&got[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for TapReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.as_ref().is_none_or(|s| self.used == s.len()) {
            if let Some(old) = self.current.take() {
                self.done_with(old);
            }
            self.used = 0;
            match self.next_slice()? {
                Some(s) => self.current = Some(s),
                None => return Ok(&[]),
            }
        }
        Ok(self.current.as_ref().map_or(&[][..], |s| &s[self.used..]))
    }

    fn consume(&mut self, amt: usize) {
        if let Some(s) = &self.current {
            self.used = (self.used + amt).min(s.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taps over overlapping, nested and out-of-input ranges each get
    /// exactly their bytes, through chunk boundaries.
    #[test]
    fn each_tap_gets_its_range() {
        let input: Vec<u8> = (0..3 * READ_CHUNK + 1234).map(|i| (i * 7 + i / 251) as u8).collect();
        let len = input.len() as u64;
        let c = READ_CHUNK as u64;
        let ranges = [
            (0, None),
            (0, Some(len)),
            (10, Some(20)),
            (c - 5, Some(c + 5)),
            (c, Some(2 * c)),
            (3, Some(3 * c + 1000)),
            (len - 1, Some(len)),
            (len - 10, Some(len + 50)),
            (len + 1, Some(len + 2)),
            (7, Some(7)),
        ];
        let mut fan = Fanout::new();
        let taps: Vec<TapReader> = ranges.iter().map(|&(f, t)| fan.tap(f, t)).collect();
        std::thread::scope(|s| {
            s.spawn(|| fan.run(input.as_slice()));
            let readers: Vec<_> = taps
                .into_iter()
                .map(|mut t| {
                    s.spawn(move || {
                        let mut got = Vec::new();
                        t.read_to_end(&mut got).map(|_| got)
                    })
                })
                .collect();
            for ((from, to), r) in ranges.iter().zip(readers) {
                let got = r.join().expect("tap thread").expect("tap");
                let (a, b) = (*from as usize, to.map_or(input.len(), |t| t as usize));
                let want = input.get(a.min(input.len())..b.min(input.len()).max(a.min(input.len())));
                assert_eq!(Some(got.as_slice()), want, "{from}..{to:?}");
            }
        });
    }

    /// A tap whose reader is gone does not stop the others; an essential
    /// one does, and they get an error, never an end.
    #[test]
    fn only_an_essential_reader_gone_stops_the_reading() {
        let input = vec![5u8; 2 * READ_CHUNK * READ_QUEUE + 3];
        let mut fan = Fanout::new();
        let gone = fan.tap(0, None);
        let mut kept = fan.tap(0, None);
        drop(gone);
        std::thread::scope(|s| {
            s.spawn(|| fan.run(input.as_slice()));
            assert_eq!(kept.digest().expect("digest").1, input.len() as u64);
        });

        let mut fan = Fanout::new();
        let gone = fan.essential_tap();
        let mut kept = fan.tap(0, None);
        drop(gone);
        std::thread::scope(|s| {
            s.spawn(|| fan.run(input.as_slice()));
            assert!(kept.digest().is_err());
        });
    }

    /// A failed read reaches every tap as an error, never as an end.
    #[test]
    fn a_failed_read_is_an_error_for_every_tap() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk gone"));
                }
                let n = self.0.min(buf.len());
                self.0 -= n;
                Ok(n)
            }
        }
        let mut fan = Fanout::new();
        let mut taps = [fan.tap(0, None), fan.tap(0, Some(1 << 40))];
        std::thread::scope(|s| {
            s.spawn(|| fan.run(Failing(READ_CHUNK + 1)));
            for t in &mut taps {
                let e = t.digest().expect_err("failed read");
                assert!(e.to_string().contains("disk gone"), "{e}");
            }
        });
        // A reading thread gone without an end is not an end either.
        let mut fan = Fanout::new();
        let mut orphan = fan.tap(0, None);
        drop(fan);
        assert!(orphan.digest().is_err());
    }
}
