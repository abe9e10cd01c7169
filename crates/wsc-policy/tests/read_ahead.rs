//! The module is read once, on a reading thread, and hashed whole on a
//! hashing thread beside the walk: the digest is of exactly the bytes read,
//! however the reads are cut, and a failed read fails the evaluation.

use std::io::{self, Read};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wsc_policy::{EvalError, Format, NoFiles, Policy, ReasonCode, Target};

fn policy() -> Policy {
    let text = r#"schema = "wsc-policy/v1"
[principals.ci]
kind = "keyless"
issuer = "https://token.actions.githubusercontent.com"
identity = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
[default]
rule = "ci"
"#;
    wsc_policy::parse(text.as_bytes(), Format::Toml, &NoFiles).expect("policy")
}

/// A module of `n` content bytes: the preamble and one custom section.
fn module(n: usize) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let name = b"pad";
    let len = name.len() + 1 + n;
    m.push(0);
    let mut v = len as u64;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        m.push(if v == 0 { b } else { b | 0x80 });
        if v == 0 {
            break;
        }
    }
    m.push(name.len() as u8);
    m.extend_from_slice(name);
    m.extend((0..n).map(|i| (i * 31 % 251) as u8));
    m
}

/// Reads in uneven pieces, with interruptions, and fails after `fail_at`
/// bytes when set.
struct Choppy<'a> {
    data: &'a [u8],
    at: usize,
    step: usize,
    fail_at: Option<usize>,
}

impl Read for Choppy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step += 1;
        if self.step % 7 == 0 {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "again"));
        }
        if self.fail_at.is_some_and(|f| self.at >= f) {
            return Err(io::Error::other("the disk went away"));
        }
        let want = [1, 4096, 65_537, 1 << 20, 3][self.step % 5].min(buf.len());
        let n = want.min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn the_digest_is_of_every_byte_read_however_reads_are_cut() {
    for n in [0, 1, 100, 512 * 1024 - 20, 512 * 1024, 3 * 1024 * 1024 + 17] {
        let m = module(n);
        let v = policy()
            .evaluate(Choppy { data: &m, at: 0, step: 0, fail_at: None }, None, &Target::unnamed(), SystemTime::now())
            .expect("evaluate");
        assert!(v.has_reason(ReasonCode::NoSignature));
        assert_eq!(v.module_sha256(), Some(Sha256::digest(&m).into()), "{n}");
        assert_eq!(v.module_size(), Some(m.len() as u64));
    }
}

#[test]
fn a_failed_read_fails_the_evaluation() {
    let m = module(3 * 1024 * 1024);
    // At m.len() every byte was read and only the end-of-file read fails:
    // taking that failure for an end would decide on a module never read to its end.
    for fail_at in [0, 10, 600 * 1024, 3 * 1024 * 1024, m.len()] {
        let got = policy().evaluate(
            Choppy { data: &m, at: 0, step: 0, fail_at: Some(fail_at) },
            None,
            &Target::unnamed(),
            SystemTime::now(),
        );
        assert!(matches!(got, Err(EvalError::Module(_))), "{fail_at}: {got:?}");
    }
}

/// A module that fails at its first bytes, pushed by a producer that
/// would go on for 64 MiB (as a C caller's updates do): the evaluation
/// returns its error and stops reading, so the producer's sends fail; it
/// neither waits for the rest nor blocks the reading thread forever.
#[test]
fn an_evaluation_that_fails_early_stops_reading() {
    use std::sync::mpsc::{channel, sync_channel};
    use std::time::Duration;
    const MORE: usize = 64 << 20;
    let (tx, rx) = sync_channel::<Vec<u8>>(1);
    let producer = std::thread::spawn(move || {
        // Version 2: refused at the preamble.
        if tx.send(b"\0asm\x02\0\0\0".to_vec()).is_err() {
            return 0;
        }
        let mut sent = 0;
        while sent < MORE {
            if tx.send(vec![0u8; 64 * 1024]).is_err() {
                return sent;
            }
            sent += 64 * 1024;
        }
        sent
    });
    let (done, result) = channel();
    std::thread::spawn(move || {
        let input = wsc_policy::ChunkReader::new(rx);
        let _ = done.send(policy().evaluate(input, None, &Target::unnamed(), SystemTime::now()).map(|_| ()));
    });
    let result = result.recv_timeout(Duration::from_secs(60)).expect("the evaluation returns");
    assert!(matches!(result, Err(EvalError::Module(_))), "{result:?}");
    let sent = producer.join().expect("producer");
    assert!(sent < MORE, "the producer was read to its end");
}
