//! `Policy::evaluate_nested`: one reading of the input is shared by the
//! outer evaluation, a second walk of the tree, the parts' digests and the
//! evaluation of the largest signed parts; the other signed parts are read
//! again. Every part is judged the same either way, and an input that
//! changes between the reads is an error, not a verdict.

use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wsc_core::format::{MODULE_PREAMBLE, encode_custom_section};
use wsc_core::{KeyAlgorithm, SecretKey};
use wsc_policy::{Decision, EvalError, Format, MemoryFiles, Policy, ReasonCode, Target};

/// Signed parts beyond this many are read again after the pass (the
/// evaluation's `IN_PASS`).
const IN_PASS: usize = 32;

fn key() -> SecretKey {
    SecretKey::generate(KeyAlgorithm::Ed25519, &mut rand_core::OsRng)
}

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            break;
        }
    }
}

/// A core module: the preamble and one custom section of `n` bytes.
fn module(n: usize, seed: usize) -> Vec<u8> {
    let pad: Vec<u8> = (0..n).map(|i| ((i * 31 + seed * 7) % 251) as u8).collect();
    [&MODULE_PREAMBLE[..], &encode_custom_section("pad", &pad).expect("section")].concat()
}

/// A component holding each of `modules` in a core module section.
fn component(modules: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    for m in modules {
        out.push(1);
        leb(m.len(), &mut out);
        out.extend_from_slice(m);
    }
    out
}

/// The integrator signs the whole; every nested module must be the vendor's.
fn policy(vendor: &SecretKey, integrator: &SecretKey) -> Policy {
    let mut files = MemoryFiles::new();
    files.insert("vendor.pem", vendor.public_key().to_pem().expect("pem"));
    files.insert("integrator.pem", integrator.public_key().to_pem().expect("pem"));
    let text = "schema = \"wsc-policy/v1\"\n\
        [principals.vendor]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"vendor.pem\"\n\
        [principals.integrator]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"integrator.pem\"\n\
        [default]\nrule = \"integrator\"\n\
        parts = [{ kind = \"module\", rule = \"vendor\", unsigned = \"reject\" }]\n";
    wsc_policy::parse(text.as_bytes(), Format::Toml, &files).expect("policy")
}

fn evaluate(policy: &Policy, input: &[u8]) -> Result<wsc_policy::Verdict, EvalError> {
    policy.evaluate_nested(Cursor::new(input), Some(input.len() as u64), &Target::unnamed(), SystemTime::now())
}

/// Vendor-signed modules of distinct sizes, the largest first: the first
/// `IN_PASS` are evaluated in the pass, the rest read again.
fn vendor_modules(vendor: &SecretKey, count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| wsc_core::sign(&module(4000 - 50 * i, i), vendor).expect("sign")).collect()
}

#[test]
fn every_part_is_judged_whether_evaluated_in_the_pass_or_read_again() {
    let (vendor, integrator, other) = (key(), key(), key());
    let policy = policy(&vendor, &integrator);
    let count = IN_PASS + 8;
    let modules = vendor_modules(&vendor, count);
    let whole = wsc_core::sign(&component(&modules), &integrator).expect("sign");
    let v = evaluate(&policy, &whole).expect("evaluate");
    assert_eq!(v.decision(), Decision::Accepted, "{:?}", v.reasons());
    assert_eq!(v.parts().len(), count);
    for (i, (p, m)) in v.parts().iter().zip(&modules).enumerate() {
        assert_eq!(p.outcome, "verified", "{p:?}");
        // What the vendor signed: the module's sections, without the preamble.
        let content = module(4000 - 50 * i, i);
        assert_eq!(p.content_sha256, Some(<[u8; 32]>::from(Sha256::digest(&content[8..]))), "{p:?}");
        let bytes = &whole[p.offset as usize..(p.offset + p.len) as usize];
        assert_eq!(bytes, m.as_slice(), "{p:?}");
        assert_eq!(p.sha256, <[u8; 32]>::from(Sha256::digest(bytes)), "{p:?}");
    }

    // One part changed, or signed by another key, in turn: in the pass
    // (the largest), at its edge, and among those read again (the smallest).
    for i in [0, IN_PASS - 1, IN_PASS, count - 1] {
        for how in ["changed", "other key"] {
            let mut parts = modules.clone();
            match how {
                "changed" => {
                    let last = parts[i].len() - 1;
                    parts[i][last] ^= 1;
                }
                _ => parts[i] = wsc_core::sign(&module(4000 - 50 * i, i), &other).expect("sign"),
            }
            let whole = wsc_core::sign(&component(&parts), &integrator).expect("sign");
            let v = evaluate(&policy, &whole).expect("evaluate");
            assert_eq!(v.decision(), Decision::Rejected, "part {i} {how}");
            assert!(v.has_reason(ReasonCode::NestedPartRejected), "part {i} {how}: {:?}", v.reasons());
            let rejected: Vec<usize> =
                v.parts().iter().enumerate().filter(|(_, p)| p.outcome != "verified").map(|(j, _)| j).collect();
            assert_eq!(rejected, [i], "part {i} {how}");
        }
    }
}

/// When a [`Changing`] input starts serving its second content.
enum Switch {
    /// Once rewound more than this many times.
    AfterRewinds(usize),
    /// At the first seek to an offset past the start (a part read again).
    AtASeekPastTheStart,
}

/// Serves `first`, then `second` once `switch` happens: a file replaced
/// while it is verified.
struct Changing {
    first: Cursor<Vec<u8>>,
    second: Cursor<Vec<u8>>,
    rewinds: usize,
    switch: Switch,
    switched: bool,
}

impl Changing {
    fn new(first: Vec<u8>, second: Vec<u8>, switch: Switch) -> Self {
        Changing { first: Cursor::new(first), second: Cursor::new(second), rewinds: 0, switch, switched: false }
    }

    fn current(&mut self) -> &mut Cursor<Vec<u8>> {
        if self.switched { &mut self.second } else { &mut self.first }
    }
}

impl Read for Changing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.current().read(buf)
    }
}

impl Seek for Changing {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match (to, &self.switch) {
            (SeekFrom::Start(0), Switch::AfterRewinds(n)) => {
                self.rewinds += 1;
                self.switched |= self.rewinds > *n;
            }
            (SeekFrom::Start(at), Switch::AtASeekPastTheStart) if at > 0 => self.switched = true,
            _ => {}
        }
        let at = self.current().stream_position()?;
        self.second.set_position(at);
        self.first.set_position(at);
        self.current().seek(to)
    }
}

#[test]
fn an_input_that_changes_between_the_reads_is_an_error() {
    let (vendor, integrator) = (key(), key());
    let policy = policy(&vendor, &integrator);
    // What the tree walk sees: three vendor modules. What the pass reads:
    // the same three at the same offsets, then an unsigned module, all
    // signed by the integrator. Judged on the first tree, the unsigned
    // module would never be found, and the whole would be accepted.
    let signed = vendor_modules(&vendor, 3);
    let seen = wsc_core::sign(&component(&signed), &integrator).expect("sign");
    let mut more = signed.clone();
    more.push(module(2000, 9));
    let read = wsc_core::sign(&component(&more), &integrator).expect("sign");
    let limits = wsc_core::TreeLimits::default();
    let tree = |b: &[u8]| wsc_core::component_tree_slice(b, &limits).expect("tree");
    let (seen_tree, read_tree) = (tree(&seen), tree(&read));
    assert_eq!(seen_tree[1..], read_tree[1..4], "the same three modules at the same offsets");
    // Each as it is: the read whole is rejected for its unsigned module.
    let v = evaluate(&policy, &read).expect("evaluate");
    assert!(v.has_reason(ReasonCode::NestedPartUnsigned), "{:?}", v.reasons());
    assert_eq!(evaluate(&policy, &seen).expect("evaluate").decision(), Decision::Accepted);

    // The evaluation rewinds, the seeking walk rewinds after taking the
    // length, and the pass starts with a third rewind.
    let changing = Changing::new(seen, read, Switch::AfterRewinds(2));
    let e = policy
        .evaluate_nested(changing, None, &Target::unnamed(), SystemTime::now())
        .expect_err("an input that changed");
    assert!(matches!(e, EvalError::InputChanged(_)), "{e:?}");
}

/// A part beyond those evaluated in the pass is read again: it must be the
/// part the pass hashed. Here the file evaluated has a changed part 39 (so
/// it is rejected), and the part read again is the genuine one: judged on
/// it, the whole would be accepted.
#[test]
fn a_part_read_again_must_be_the_part_the_pass_read() {
    let (vendor, integrator) = (key(), key());
    let policy = policy(&vendor, &integrator);
    let modules = vendor_modules(&vendor, IN_PASS + 8);
    let genuine = wsc_core::sign(&component(&modules), &integrator).expect("sign");
    let mut parts = modules.clone();
    let last = parts[IN_PASS + 7].len() - 1;
    parts[IN_PASS + 7][last] ^= 1;
    let changed = wsc_core::sign(&component(&parts), &integrator).expect("sign");
    assert_eq!(genuine.len(), changed.len());
    assert_eq!(evaluate(&policy, &changed).expect("evaluate").decision(), Decision::Rejected);
    assert_eq!(evaluate(&policy, &genuine).expect("evaluate").decision(), Decision::Accepted);

    let changing = Changing::new(changed, genuine, Switch::AtASeekPastTheStart);
    let e =
        policy.evaluate_nested(changing, None, &Target::unnamed(), SystemTime::now()).expect_err("a part that changed");
    assert!(matches!(e, EvalError::InputChanged(_)), "{e:?}");
}

#[test]
fn a_failed_read_during_the_pass_fails_the_evaluation() {
    /// Fails past `.1` once rewound for the pass (the third time).
    struct Failing(Cursor<Vec<u8>>, u64, usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.2 >= 3 && self.0.position() >= self.1 {
                return Err(io::Error::other("the disk went away"));
            }
            self.0.read(buf)
        }
    }
    impl Seek for Failing {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            if to == SeekFrom::Start(0) {
                self.2 += 1;
            }
            self.0.seek(to)
        }
    }
    let (vendor, integrator) = (key(), key());
    let policy = policy(&vendor, &integrator);
    let whole = wsc_core::sign(&component(&vendor_modules(&vendor, 4)), &integrator).expect("sign");
    let fail_at = whole.len() as u64 / 2;
    let e = policy
        .evaluate_nested(Failing(Cursor::new(whole), fail_at, 0), None, &Target::unnamed(), SystemTime::now())
        .expect_err("a failed read");
    assert!(format!("{e:?}").contains("the disk went away"), "{e:?}");
}
