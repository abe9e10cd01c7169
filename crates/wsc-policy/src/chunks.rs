//! Bytes pushed from another thread, read by [`Policy::evaluate`](crate::Policy::evaluate).

use std::io::Read;
use std::sync::mpsc::Receiver;

/// The receiving half of a channel of byte chunks as a reader: the sender
/// pushes pieces as they arrive (a download, a C caller's updates) and a
/// thread evaluates them; a closed channel is the end of input.
#[derive(Debug)]
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    /// A reader over what `rx` receives.
    pub fn new(rx: Receiver<Vec<u8>>) -> ChunkReader {
        ChunkReader { rx, current: Vec::new(), at: 0 }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.current = next;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
