//! Push-style verification: the caller's chunks go over a bounded channel
//! to a thread that runs `Policy::evaluate` on them as a reader.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::SystemTime;

use wsc_policy::{Policy, Target, Verdict};

use crate::Error;

/// Chunks queued before `push` waits for the evaluation.
const QUEUE: usize = 4;

/// A running evaluation and the sending half of its input.
#[derive(Debug)]
pub(crate) struct Stream {
    /// `None` once the input has ended.
    tx: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<Result<Verdict, wsc_policy::EvalError>>>,
}

impl Stream {
    /// Starts evaluating against `policy` at time `now`.
    pub(crate) fn start(policy: Arc<Policy>, now: SystemTime) -> Stream {
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::spawn(move || {
            policy.evaluate(wsc_policy::ChunkReader::new(rx), None, &Target::unnamed(), now)
        });
        Stream { tx: Some(tx), thread: Some(thread) }
    }

    /// Queues a copy of `bytes`; waits while the queue is full.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        let tx = self.tx.as_ref().ok_or(Error::Stopped)?;
        tx.send(bytes.to_vec()).map_err(|_| Error::Stopped)
    }

    /// Ends the input and waits for the verdict.
    pub(crate) fn finish(mut self) -> Result<Verdict, Error> {
        self.tx = None;
        let thread = self.thread.take().ok_or(Error::Stopped)?;
        match thread.join() {
            Ok(result) => Ok(result?),
            Err(p) => Err(crate::panicked(p)),
        }
    }
}

impl Drop for Stream {
    /// Ends the input and waits for the thread, so that nothing outlives
    /// the verifier.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
