//! Stable smoke tests for the fuzz targets in `fuzz/`, run by plain
//! `cargo test`.
//!
//! Each parser (sections, signature data, keys, verification) runs on
//! deterministic mutations of every test vector in
//! `testdata/wasmsign2/{modules,signed,crafted,keys}`: bit flips, byte
//! insertions and deletions, truncations, length fields bumped to extreme
//! values and section swaps. A small xorshift PRNG with a fixed seed per file
//! picks the mutations, so every run tests the same inputs.
//!
//! The checks are the fuzz targets' own. `fuzz/src/lib.rs` is included below
//! with `#[path]`, so both run the same code. Among them, every checkpoint a
//! report gives is compared with hashes computed from the bytes by the fuzz
//! library's own reader (`expected_checkpoints`). On top of those checks, this
//! file knows the unmutated vectors. It checks that no mutated module
//! verifies with content that key k1 never signed (content hashes computed
//! independently of the report). It also checks that a bit
//! flip in the payload of a content section stops whole-module verification
//! of a module that verified before.
//!
//! Every input gets the full list of mutations, truncation at every
//! position included. The signature data decoder is cheap and runs all of
//! them. The module, key and verification targets cost about a millisecond
//! per case in a debug build, mostly because each `SectionReader` zero-fills
//! a 256 KiB buffer. So they run a fixed sample of each file's list, a few
//! cases of every mutation kind, and the whole suite stays within seconds.
//! Set `WSC_FUZZ_SMOKE=full` to run every case of every list instead (a few
//! minutes in a debug build).
//!
//! When a case panics, the test prints the file, the mutation and the input
//! as hex, then fails after all cases have run.

#[allow(dead_code, unreachable_pub, missing_debug_implementations)]
#[path = "../../../fuzz/src/lib.rs"]
mod wsc_fuzz;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use wsc_core::Verification;
use wsc_core::keys::hex;
use wsc_core::sigdata::{Hash, SignatureData, SignatureRecord};
use wsc_core::{PublicKey, RecordOutcome, RecordVerifier};
use wsc_fuzz::{LenField, VerifyOutcome};

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2")
}

/// Every file of `testdata/wasmsign2/<dir>`, sorted, as (`dir/name`, bytes).
fn vectors(dir: &str) -> Vec<(String, Vec<u8>)> {
    let path = testdata().join(dir);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|entry| {
            let entry = entry.expect("directory entry");
            let name = format!("{dir}/{}", entry.file_name().to_string_lossy());
            let bytes = std::fs::read(entry.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no test vectors in {}", path.display());
    out
}

/// Every `.wasm` vector (modules, signed, crafted).
fn modules() -> Vec<(String, Vec<u8>)> {
    ["modules", "signed", "crafted"].into_iter().flat_map(vectors).filter(|(name, _)| name.ends_with(".wasm")).collect()
}

/// Every detached signature file.
fn signature_files() -> Vec<(String, Vec<u8>)> {
    ["signed", "crafted"].into_iter().flat_map(vectors).filter(|(name, _)| name.ends_with(".sig")).collect()
}

// ---------------------------------------------------------------------------
// Deterministic mutations
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic, and good enough to pick positions.
struct XorShift(u64);

impl XorShift {
    /// A generator seeded from a name (FNV-1a), so each file has its own
    /// sequence whatever order files are visited in.
    fn for_name(name: &str) -> Self {
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        XorShift(h | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n`; `n` > 0.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What a mutation did, for messages and for the invariants that depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mutation {
    Truncate(usize),
    Flip { pos: usize, bit: u8 },
    Insert { pos: usize, byte: u8 },
    Delete(usize),
    Field { field: LenField, bytes: Vec<u8> },
    Swap(usize, usize),
}

struct Case {
    mutation: Mutation,
    bytes: Vec<u8>,
}

/// How many random mutations of each kind per input.
#[derive(Clone, Copy)]
struct Budget {
    flips: usize,
    inserts: usize,
    deletes: usize,
    /// Inputs up to this length are truncated at every position; longer ones
    /// near every section start, near the end and at a few random places.
    truncate_all_up_to: usize,
}

const MODULE_BUDGET: Budget = Budget { flips: 24, inserts: 8, deletes: 8, truncate_all_up_to: 2048 };
const DATA_BUDGET: Budget = Budget { flips: 48, inserts: 16, deletes: 16, truncate_all_up_to: 4096 };

/// Values a length field is bumped to, besides `value ± 1` and the same
/// value with a longer-than-needed encoding.
const BUMPS: [&[u8]; 7] = [
    &[0x00],
    &[0x7f],
    &[0xff, 0x7f],
    &[0xff, 0xff, 0x03],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    // Overflows 32 bits.
    &[0xff, 0xff, 0xff, 0xff, 0x7f],
];

/// The deterministic mutations of `input`. `fields` are its length fields
/// and `sections` its section ranges (both may be empty).
fn mutations(name: &str, input: &[u8], fields: &[LenField], sections: &[Range<usize>], budget: Budget) -> Vec<Case> {
    let mut rng = XorShift::for_name(name);
    let mut out = Vec::new();
    let n = input.len();

    let mut cuts: Vec<usize> = if n <= budget.truncate_all_up_to {
        (0..n).collect()
    } else {
        let mut c: Vec<usize> = sections.iter().flat_map(|r| r.start..(r.start + 24).min(n)).collect();
        c.extend(n.saturating_sub(24)..n);
        c.extend((0..16).map(|_| rng.below(n)));
        c
    };
    cuts.sort_unstable();
    cuts.dedup();
    out.extend(cuts.into_iter().map(|len| Case { mutation: Mutation::Truncate(len), bytes: input[..len].to_vec() }));

    if n > 0 {
        for _ in 0..budget.flips {
            let (pos, bit) = (rng.below(n), rng.below(8) as u8);
            let mut bytes = input.to_vec();
            bytes[pos] ^= 1 << bit;
            out.push(Case { mutation: Mutation::Flip { pos, bit }, bytes });
        }
        for _ in 0..budget.deletes {
            let pos = rng.below(n);
            let mut bytes = input.to_vec();
            bytes.remove(pos);
            out.push(Case { mutation: Mutation::Delete(pos), bytes });
        }
    }
    for i in 0..budget.inserts {
        let pos = rng.below(n + 1);
        let byte = [0x00, 0x7f, 0x80, 0xff][i % 4] ^ if i >= 4 { rng.next() as u8 } else { 0 };
        let mut bytes = input.to_vec();
        bytes.insert(pos, byte);
        out.push(Case { mutation: Mutation::Insert { pos, byte }, bytes });
    }

    for f in fields {
        let mut encodings: Vec<Vec<u8>> = BUMPS.iter().map(|b| b.to_vec()).collect();
        encodings.push(wsc_fuzz::leb(f.value.wrapping_add(1)));
        encodings.push(wsc_fuzz::leb(f.value.saturating_sub(1)));
        // Same value, one byte longer than needed.
        let mut padded = wsc_fuzz::leb(f.value);
        if padded.len() < 5 {
            let last = padded.len() - 1;
            padded[last] |= 0x80;
            padded.push(0x00);
            encodings.push(padded);
        }
        for enc in encodings {
            if input[f.offset..f.offset + f.len] == enc[..] {
                continue;
            }
            let mut bytes = input[..f.offset].to_vec();
            bytes.extend_from_slice(&enc);
            bytes.extend_from_slice(&input[f.offset + f.len..]);
            out.push(Case { mutation: Mutation::Field { field: *f, bytes: enc }, bytes });
        }
    }

    // Swap neighbours, and the first section with the last.
    let mut pairs: Vec<(usize, usize)> = (1..sections.len()).map(|i| (i - 1, i)).collect();
    if sections.len() > 2 {
        pairs.push((0, sections.len() - 1));
    }
    for (a, b) in pairs {
        let (ra, rb) = (&sections[a], &sections[b]);
        let mut bytes = input[..ra.start].to_vec();
        bytes.extend_from_slice(&input[rb.clone()]);
        bytes.extend_from_slice(&input[ra.end..rb.start]);
        bytes.extend_from_slice(&input[ra.clone()]);
        bytes.extend_from_slice(&input[rb.end..]);
        out.push(Case { mutation: Mutation::Swap(a, b), bytes });
    }
    out
}

/// The mutations of a module, with its structure.
fn module_mutations(name: &str, module: &[u8]) -> Vec<Case> {
    let ranges: Vec<Range<usize>> = wsc_fuzz::section_ranges(module).into_iter().map(|(r, _)| r).collect();
    mutations(name, module, &wsc_fuzz::module_length_fields(module), &ranges, MODULE_BUDGET)
}

/// Whether `WSC_FUZZ_SMOKE=full` asks for every case.
fn full() -> bool {
    std::env::var("WSC_FUZZ_SMOKE").is_ok_and(|v| v == "full")
}

/// A fixed sample of `cases`: at most `per_kind` of each kind of mutation
/// (truncation, flip, insertion, deletion, length field, swap), picked by the
/// file's PRNG; every case with `WSC_FUZZ_SMOKE=full`.
fn sample(name: &str, cases: Vec<Case>, per_kind: usize) -> Vec<Case> {
    if full() {
        return cases;
    }
    let kind = |m: &Mutation| match m {
        Mutation::Truncate(_) => 0,
        Mutation::Flip { .. } => 1,
        Mutation::Insert { .. } => 2,
        Mutation::Delete(_) => 3,
        Mutation::Field { .. } => 4,
        Mutation::Swap(..) => 5,
    };
    let mut rng = XorShift::for_name(&format!("{name}#sample"));
    let mut by_kind: [Vec<Case>; 6] = Default::default();
    for c in cases {
        by_kind[kind(&c.mutation)].push(c);
    }
    let mut out = Vec::new();
    for mut group in by_kind {
        for _ in 0..per_kind.min(group.len()) {
            let i = rng.below(group.len());
            out.push(group.swap_remove(i));
        }
    }
    out
}

/// Cases per mutation kind and file for the targets that read modules and keys.
const SECTIONS_PER_KIND: usize = 6;
const VERIFY_PER_KIND: usize = 3;
const KEYS_PER_KIND: usize = 12;

// ---------------------------------------------------------------------------
// Running cases
// ---------------------------------------------------------------------------

/// Runs cases, catching panics; at the end, fails with every failing case
/// (file, mutation, input as hex).
struct Runner {
    target: &'static str,
    cases: usize,
    failures: Vec<String>,
    started: Instant,
}

impl Runner {
    fn new(target: &'static str) -> Self {
        Runner { target, cases: 0, failures: Vec::new(), started: Instant::now() }
    }

    fn run<T>(&mut self, file: &str, mutation: Option<&Mutation>, input: &[u8], f: impl FnOnce() -> T) -> Option<T> {
        self.cases += 1;
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Some(v),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic)");
                self.fail(file, mutation, input, msg);
                None
            }
        }
    }

    fn fail(&mut self, file: &str, mutation: Option<&Mutation>, input: &[u8], msg: &str) {
        self.failures.push(format!(
            "{} on {file} ({}): {msg}\n  input ({} bytes): {}",
            self.target,
            mutation.map_or_else(|| "unmutated".to_string(), |m| format!("{m:?}")),
            input.len(),
            hex(input)
        ));
    }

    fn finish(self) {
        eprintln!("{}: {} cases in {:.2?}", self.target, self.cases, self.started.elapsed());
        assert!(
            self.failures.is_empty(),
            "{} of {} {} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.target,
            self.failures.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// The key, and what it ever signed
// ---------------------------------------------------------------------------

/// k1 (the fuzz target's fixed key), remembering every signature check: a
/// signature check is a pure function of message and signature, so the
/// answers are the same and thousands of mutated modules that share one
/// signature section cost one check, not thousands (Ed25519 is slow
/// in debug builds).
struct CachedKey {
    key: PublicKey,
    memo: RefCell<Memo>,
}

/// (message, signature) -> what the key said.
type Memo = HashMap<(Vec<u8>, Vec<u8>), RecordOutcome>;

impl CachedKey {
    fn k1() -> Self {
        let key = wsc_fuzz::fixed_key();
        let file = PublicKey::from_any(&std::fs::read(testdata().join("keys/k1.pk")).expect("keys/k1.pk")).expect("k1");
        assert_eq!(key, file, "the fuzz target's fixed key is not keys/k1.pk");
        CachedKey { key, memo: RefCell::new(HashMap::new()) }
    }
}

impl RecordVerifier for CachedKey {
    fn wants(&self, record: &SignatureRecord) -> bool {
        self.key.wants(record)
    }

    fn verify_record(&self, message: &[u8], record: &SignatureRecord) -> RecordOutcome {
        let k = (message.to_vec(), record.signature.clone());
        if let Some(v) = self.memo.borrow().get(&k) {
            return v.clone();
        }
        let v = RecordVerifier::verify_record(&self.key, message, record);
        self.memo.borrow_mut().insert(k, v.clone());
        v
    }
}

/// Every content that k1 signed in any test vector: the hash lists of the
/// sets with a valid k1 record, from every `signature` section of every
/// module (wherever it sits) and every detached signature file. A mutation
/// cannot forge a signature, so whatever verifies must be one of these.
struct Signed {
    lists: HashSet<Vec<Hash>>,
    hashes: HashSet<Hash>,
}

impl Signed {
    fn collect(key: &CachedKey) -> Self {
        let mut lists = HashSet::new();
        let mut add = |data: &[u8]| {
            if let Ok(d) = SignatureData::decode(data, 0) {
                lists.extend(wsc_fuzz::signed_hash_lists(&d, key));
            }
        };
        for (_, module) in modules() {
            for (range, h) in wsc_fuzz::section_ranges(&module) {
                if h.is_signature() {
                    add(&module[h.data_offset as usize..range.end]);
                }
            }
        }
        for (_, sig) in signature_files() {
            add(&sig);
        }
        assert!(lists.len() >= 5, "k1 signed only {} contents in the vectors", lists.len());
        let hashes = lists.iter().flatten().copied().collect();
        Signed { lists, hashes }
    }

    /// Nothing verifies that k1 did not sign: the whole content in whole
    /// scope, the content up to `verified_end` in partial scope.
    fn check(&self, out: &VerifyOutcome) -> Result<(), String> {
        if let (Some(_), Some(hashes)) = (wsc_fuzz::verified(&out.whole), out.checkpoint_hashes()) {
            if !self.lists.contains(&hashes) {
                return Err(format!("whole-module verification accepted content k1 never signed: {hashes:02x?}"));
            }
        }
        for (i, run) in out.partial.iter().enumerate() {
            let Some(v) = wsc_fuzz::verified(run) else { continue };
            // The hash of the content up to verified_end, computed from the bytes.
            let cp = out.expected.iter().flatten().find(|c| c.end == v.verified_end);
            if !cp.is_some_and(|c| self.hashes.contains(&c.hash)) {
                return Err(format!(
                    "partial ({}) verification up to {} accepted content k1 never signed",
                    wsc_fuzz::SELECTIONS[i].0,
                    v.verified_end
                ));
            }
        }
        Ok(())
    }
}

/// Counts of what the verification cases did, to show they exercise both
/// answers.
#[derive(Default, Debug)]
struct VerifyStats {
    /// Mutated inputs that verified in whole-module scope.
    verified_whole: usize,
    /// ... whose content is not the original's, but other content k1 signed.
    verified_other_content: usize,
    /// Mutated inputs that were read but did not verify.
    rejected: usize,
    /// Mutated inputs that could not be read.
    unreadable: usize,
}

impl VerifyStats {
    fn add(&mut self, out: &VerifyOutcome, original: Option<&Vec<Hash>>) {
        if out.verified_whole() {
            self.verified_whole += 1;
            if out.checkpoint_hashes().as_ref() != original {
                self.verified_other_content += 1;
            }
        } else if out.whole.is_ok() {
            self.rejected += 1;
        } else {
            self.unreadable += 1;
        }
    }
}

/// Offsets of the payload bytes of every content section (not the
/// signature section) of `module`: flipping one of them changes the
/// content that is hashed.
fn content_payload(module: &[u8]) -> Vec<Range<usize>> {
    wsc_fuzz::section_ranges(module)
        .into_iter()
        .filter(|(_, h)| !h.is_signature())
        .map(|(r, h)| h.data_offset as usize..r.end)
        .collect()
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[test]
fn sections_survive_mutations() {
    let mut runner = Runner::new("sections");
    for (name, module) in modules() {
        runner.run(&name, None, &module, || {
            let out = wsc_fuzz::sections(&module);
            assert!(out.result.is_ok() || name.starts_with("crafted/"), "{name} does not read: {:?}", out.result);
        });
        for case in sample(&name, module_mutations(&name, &module), SECTIONS_PER_KIND) {
            runner.run(&name, Some(&case.mutation), &case.bytes, || wsc_fuzz::sections(&case.bytes));
        }
    }
    runner.finish();
}

#[test]
fn signature_data_survives_mutations() {
    let mut runner = Runner::new("signature_data");
    let mut inputs: Vec<(String, Vec<u8>)> = signature_files();
    for (name, module) in modules() {
        if let Some((_, payload, _)) = wsc_fuzz::embedded_signature(&module) {
            inputs.push((format!("{name}#signature"), payload));
        }
    }
    assert!(inputs.len() >= 20, "only {} signature data inputs", inputs.len());
    let mut decoded = 0;
    for (name, data) in inputs {
        let fields = wsc_fuzz::sigdata_length_fields(&data, 0);
        runner.run(&name, None, &data, || wsc_fuzz::signature_data(&data));
        for case in mutations(&name, &data, &fields, &[], DATA_BUDGET) {
            let r = runner.run(&name, Some(&case.mutation), &case.bytes, || wsc_fuzz::signature_data(&case.bytes));
            decoded += usize::from(matches!(r, Some(Ok(_))));
        }
    }
    eprintln!("signature_data: {decoded} mutated inputs decoded");
    assert!(decoded > 100, "too few mutated inputs decode ({decoded}) for the round trip to be tested");
    runner.finish();
}

#[test]
fn keys_survive_mutations() {
    let mut runner = Runner::new("keys");
    let (mut public, mut secret) = (0, 0);
    for (name, key) in vectors("keys") {
        runner.run(&name, None, &key, || {
            let out = wsc_fuzz::keys(&key);
            assert!(out.public.is_ok() || out.secret.is_ok(), "{name} reads as no key: {out:?}");
        });
        for case in sample(&name, mutations(&name, &key, &[], &[], DATA_BUDGET), KEYS_PER_KIND) {
            if let Some(out) = runner.run(&name, Some(&case.mutation), &case.bytes, || wsc_fuzz::keys(&case.bytes)) {
                public += usize::from(out.public.is_ok());
                secret += usize::from(out.secret.is_ok());
            }
        }
    }
    eprintln!("keys: {public} mutated inputs read as public keys, {secret} as secret keys");
    runner.finish();
}

#[test]
fn verify_embedded_survives_mutations() {
    let key = CachedKey::k1();
    let signed = Signed::collect(&key);
    let mut runner = Runner::new("verify (embedded)");
    let mut stats = VerifyStats::default();
    let mut verified_originals = 0;
    for (name, module) in modules() {
        let Some(original) = runner.run(&name, None, &module, || wsc_fuzz::verify_embedded_all(&module, &key)) else {
            continue;
        };
        let original_ok = original.verified_whole();
        verified_originals += usize::from(original_ok);
        let original_hashes = original.checkpoint_hashes();
        let payload = content_payload(&module);
        for case in sample(&name, module_mutations(&name, &module), VERIFY_PER_KIND) {
            let Some(out) = runner
                .run(&name, Some(&case.mutation), &case.bytes, || wsc_fuzz::verify_embedded_all(&case.bytes, &key))
            else {
                continue;
            };
            stats.add(&out, original_hashes.as_ref());
            if let Err(msg) = signed.check(&out) {
                runner.fail(&name, Some(&case.mutation), &case.bytes, &msg);
            }
            // A flipped bit in the payload of a content section of a module
            // that verified changes the hashed content: it must not verify.
            if let Mutation::Flip { pos, .. } = case.mutation {
                if original_ok && payload.iter().any(|r| r.contains(&pos)) && out.verified_whole() {
                    runner.fail(&name, Some(&case.mutation), &case.bytes, "content changed and still verifies");
                }
            }
        }
    }
    eprintln!("verify (embedded): {verified_originals} unmutated vectors verify with k1; mutated: {stats:?}");
    assert!(verified_originals >= 10, "only {verified_originals} vectors verify with k1");
    assert!(stats.verified_whole > 0 && stats.rejected > 0 && stats.unreadable > 0, "{stats:?}");
    runner.finish();
}

#[test]
fn verify_detached_survives_mutations() {
    let key = CachedKey::k1();
    let signed = Signed::collect(&key);
    let mut runner = Runner::new("verify (detached)");
    let mut stats = VerifyStats::default();
    let candidates: Vec<(String, Vec<u8>)> =
        modules().into_iter().filter(|(_, m)| wsc_fuzz::embedded_signature(m).is_none()).collect();
    for (sig_name, sig) in signature_files() {
        // The module this signature is for: the first that verifies with it.
        let module = candidates
            .iter()
            .find(|(_, m)| {
                wsc_core::verify_detached(
                    &m[..],
                    &sig,
                    &Verification::new(&[&key]).scope(wsc_core::Scope::Whole).options(Default::default()),
                )
                .is_ok_and(|r| r.any_verified())
            })
            .or_else(|| candidates.iter().find(|(n, _)| n == "modules/add.wasm"))
            .expect("modules/add.wasm");
        let name = format!("{sig_name} + {}", module.0);
        let module = &module.1;
        let Some(original) = runner.run(&name, None, &sig, || wsc_fuzz::verify_detached_all(module, &sig, &key)) else {
            continue;
        };
        let original_hashes = original.checkpoint_hashes();
        // The signature data mutated, the module not.
        let fields = wsc_fuzz::sigdata_length_fields(&sig, 0);
        for case in sample(&name, mutations(&sig_name, &sig, &fields, &[], DATA_BUDGET), 3 * VERIFY_PER_KIND) {
            if let Some(out) = runner.run(&name, Some(&case.mutation), &case.bytes, || {
                wsc_fuzz::verify_detached_all(module, &case.bytes, &key)
            }) {
                stats.add(&out, original_hashes.as_ref());
                if let Err(msg) = signed.check(&out) {
                    runner.fail(&name, Some(&case.mutation), &case.bytes, &msg);
                }
            }
        }
        // The module mutated, the signature data not.
        let payload = content_payload(module);
        for case in sample(&name, module_mutations(&name, module), 3 * VERIFY_PER_KIND) {
            let Some(out) = runner.run(&name, Some(&case.mutation), &case.bytes, || {
                wsc_fuzz::verify_detached_all(&case.bytes, &sig, &key)
            }) else {
                continue;
            };
            stats.add(&out, original_hashes.as_ref());
            if let Err(msg) = signed.check(&out) {
                runner.fail(&name, Some(&case.mutation), &case.bytes, &msg);
            }
            if let Mutation::Flip { pos, .. } = case.mutation {
                if original.verified_whole() && payload.iter().any(|r| r.contains(&pos)) && out.verified_whole() {
                    runner.fail(&name, Some(&case.mutation), &case.bytes, "content changed and still verifies");
                }
            }
        }
    }
    eprintln!("verify (detached): mutated: {stats:?}");
    assert!(stats.verified_whole > 0 && stats.rejected > 0 && stats.unreadable > 0, "{stats:?}");
    runner.finish();
}

/// The fuzz entry points themselves (the `verify` one splits its input and
/// uses the uncached key) on a few vectors, so that the code the fuzzer runs
/// is compiled and run here too.
#[test]
fn entry_points_run() {
    let mut runner = Runner::new("entry points");
    for (name, module) in modules() {
        if ["signed/add.k1.wasm", "signed/custom.split.k1.wasm", "crafted/add.k1.unknown-alg.wasm"]
            .contains(&name.as_str())
        {
            runner.run(&name, None, &module, || wsc_fuzz::verify(&module));
        }
    }
    for (name, key) in vectors("keys").into_iter().take(3) {
        runner.run(&name, None, &key, || wsc_fuzz::keys(&key));
    }
    runner.finish();
}
