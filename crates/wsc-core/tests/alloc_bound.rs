//! Allocation bound: no length field makes wsc-core allocate more than its
//! fixed buffers, whatever the field says.
//!
//! A global allocator records the largest single allocation made on the
//! measuring thread. The workspace forbids `unsafe_code`, so the allocator
//! comes from the `tracking-allocator` dev-dependency, which reports every
//! allocation to a safe trait. A thread-local flag limits the record to the
//! measuring thread, so other tests running in parallel do not count. The
//! allocator is installed for this test binary only, so it lives in its own
//! file.
//!
//! The bound is 1 MiB. The reader's buffers are 256 KiB each (the
//! `BufReader` of `verify_*` and the chunk buffer of `SectionReader`). So a
//! 4 GiB length field that led to an allocation would show at once.

#[allow(dead_code, unreachable_pub, missing_debug_implementations)]
#[path = "../../../fuzz/src/lib.rs"]
mod wsc_fuzz;

use std::alloc::System;
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

use tracking_allocator::{AllocationGroupId, AllocationRegistry, AllocationTracker, Allocator};
use wsc_core::Verification;
use wsc_core::format::SectionReader;
use wsc_core::sigdata::{MAX_SIGNATURE_DATA, SignatureData};
use wsc_core::{PublicKey, RecordVerifier, Scope, VerifyOptions};

#[global_allocator]
static GLOBAL: Allocator<System> = Allocator::system();

const BOUND: usize = 1 << 20;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static MEASURE_ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

struct Largest;

impl AllocationTracker for Largest {
    fn allocated(&self, _addr: usize, object_size: usize, _wrapped_size: usize, _group: AllocationGroupId) {
        if MEASURING.try_with(Cell::get).unwrap_or(false) {
            LARGEST.fetch_max(object_size, Ordering::Relaxed);
        }
    }

    fn deallocated(&self, _: usize, _: usize, _: usize, _: AllocationGroupId, _: AllocationGroupId) {}
}

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        AllocationRegistry::set_global_tracker(Largest).expect("no other tracker");
        AllocationRegistry::enable_tracking();
    });
    let _one = MEASURE_ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    LARGEST.store(0, Ordering::SeqCst);
    MEASURING.with(|m| m.set(true));
    let out = f();
    MEASURING.with(|m| m.set(false));
    (out, LARGEST.load(Ordering::SeqCst))
}

fn vector(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/wasmsign2").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn k1() -> PublicKey {
    PublicKey::from_any(&vector("keys/k1.pk")).expect("k1")
}

/// Every way wsc-core reads `module`, each measured: verification embedded
/// and detached (with and without the total length), the section reader,
/// and the signature data decoder on the first section's payload.
fn read_every_way(module: &[u8], key: &PublicKey) -> Vec<(&'static str, usize, bool)> {
    let keys: [&dyn RecordVerifier; 1] = [key];
    let opts = VerifyOptions::default();
    let total = Some(module.len() as u64);
    let mut out = Vec::new();
    let mut measure = |what: &'static str, f: &dyn Fn() -> bool| {
        let (ok, largest) = largest_allocation(f);
        out.push((what, largest, ok));
    };
    measure("verify_embedded, total known", &|| {
        wsc_core::verify_embedded(module, &Verification::new(&keys).options(opts).total_len(total))
            .is_ok_and(|r| r.any_verified())
    });
    measure("verify_embedded, partial, streaming", &|| {
        let all = |_: &wsc_core::format::SectionHeader| true;
        wsc_core::verify_embedded(module, &Verification::new(&keys).scope(Scope::Partial(&all)).options(opts))
            .is_ok_and(|r| r.any_verified())
    });
    measure("verify_detached, streaming", &|| {
        wsc_core::verify_detached(module, &[1, 1, 1, 0], &Verification::new(&keys).options(opts))
            .is_ok_and(|r| r.any_verified())
    });
    measure("SectionReader", &|| {
        let Ok(mut rd) = SectionReader::new(module) else { return false };
        loop {
            match rd.next_header() {
                Ok(Some(h)) if h.is_signature() => {
                    if rd.read_data(MAX_SIGNATURE_DATA, "signature").is_err() {
                        return false;
                    }
                }
                Ok(Some(_)) => {
                    if rd.data_chunks(|_| Ok(())).is_err() {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    });
    if let Some((range, h)) = wsc_fuzz::section_ranges(module).into_iter().next().filter(|(_, h)| h.is_signature()) {
        let payload = &module[h.data_offset as usize..range.end];
        measure("SignatureData::decode", &|| SignatureData::decode(payload, h.data_offset).is_ok());
        measure("verify_detached, signature data from the module", &|| {
            wsc_core::verify_detached(module, payload, &Verification::new(&keys).options(opts))
                .is_ok_and(|r| r.any_verified())
        });
    }
    out
}

/// The measurement sees allocations: without this, a tracker that records
/// nothing would pass every test here.
#[test]
fn the_measurement_sees_a_large_allocation() {
    let (v, largest) = largest_allocation(|| vec![7u8; 3 << 20]);
    assert_eq!(v.len(), 3 << 20);
    assert!(largest >= 3 << 20, "a 3 MiB allocation measured as {largest} bytes");
    let (_, largest) = largest_allocation(|| std::hint::black_box(Vec::<u8>::with_capacity(100)));
    assert!(largest < BOUND, "a small allocation measured as {largest} bytes");
}

#[test]
fn crafted_huge_lengths_are_rejected_without_allocating() {
    let key = k1();
    for rel in ["crafted/huge-section-len.wasm", "crafted/add.huge-sigdata-len.wasm"] {
        let module = vector(rel);
        for (what, largest, ok) in read_every_way(&module, &key) {
            eprintln!("{rel}: {what}: largest allocation {largest} bytes");
            assert!(!ok || what == "SignatureData::decode" || what == "SectionReader", "{rel}: {what} accepted it");
            assert!(largest < BOUND, "{rel}: {what} made a {largest}-byte allocation (bound {BOUND})");
        }
        // The convenience API says no too.
        let (r, largest) = largest_allocation(|| wsc_core::verify(&module, &key));
        assert!(r.is_err(), "{rel} verifies");
        assert!(largest < BOUND, "{rel}: verify() made a {largest}-byte allocation");
        eprintln!("{rel}: verify(): {}", r.err().map(|e| e.to_string()).unwrap_or_default());
    }
}

/// Every length field of a few module vectors (section sizes, name
/// lengths, every count and length of the signature data) set to huge
/// values, read every way: never a large allocation. The vectors cover
/// two signatures with key ids, delimiters and custom sections, and a
/// component.
#[test]
fn huge_length_fields_never_allocate_much() {
    const VECTORS: [&str; 3] =
        ["signed/add.k1kid.k2kid.wasm", "signed/custom.split.k1.wasm", "signed/component.k1.wasm"];
    const HUGE: [&[u8]; 3] = [
        &[0xff, 0xff, 0xff, 0xff, 0x0f], // u32::MAX
        &[0xff, 0xff, 0xff, 0x01],       // 4 MiB - 1: just under the signature data cap
        &[0xff, 0xff, 0x0f],             // 256 KiB - 1
    ];
    let key = k1();
    let mut cases = 0;
    let mut worst = (0usize, String::new());
    for rel in VECTORS {
        let module = vector(rel);
        let fields = wsc_fuzz::module_length_fields(&module);
        assert!(fields.len() > 10, "{rel}: only {} length fields found", fields.len());
        for field in fields {
            for huge in HUGE {
                let mut m = module[..field.offset].to_vec();
                m.extend_from_slice(huge);
                m.extend_from_slice(&module[field.offset + field.len..]);
                for (what, largest, _) in read_every_way(&m, &key) {
                    cases += 1;
                    if largest > worst.0 {
                        worst = (largest, format!("{rel}, {} at {} = {huge:02x?}, {what}", field.what, field.offset));
                    }
                    assert!(
                        largest < BOUND,
                        "{rel}: {} at offset {} set to {huge:02x?}: {what} made a {largest}-byte allocation\n  input: {}",
                        field.what,
                        field.offset,
                        wsc_core::keys::hex(&m)
                    );
                }
            }
        }
    }
    eprintln!("{cases} measured reads; largest single allocation {} bytes ({})", worst.0, worst.1);
    assert!(cases > 500, "only {cases} cases");
}
