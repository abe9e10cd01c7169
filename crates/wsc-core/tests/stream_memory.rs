//! Heap use of the streaming verifier, counted by the allocator: at most
//! 64 KiB beyond the signature section, whatever the module's size. The
//! component tree walk stays within its read buffer and 64 KiB.

use std::alloc::System;
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Mutex, Once};

use tracking_allocator::{AllocationGroupId, AllocationRegistry, AllocationTracker, Allocator};
use wsc_core::format::SectionHeader;
use wsc_core::{RecordVerifier, Scope, SecretKey, StreamVerifier, Verification};

// The workspace forbids `unsafe_code`: the allocator comes from
// `tracking-allocator`, which reports every allocation to a safe trait.
#[global_allocator]
static GLOBAL: Allocator<System> = Allocator::system();

/// Heap bytes held now and at most, counted on the measuring thread only.
static NOW: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

struct Heap;

impl AllocationTracker for Heap {
    fn allocated(&self, _addr: usize, object_size: usize, _wrapped_size: usize, _group: AllocationGroupId) {
        if MEASURING.try_with(Cell::get).unwrap_or(false) {
            let now = NOW.fetch_add(object_size as isize, Ordering::SeqCst) + object_size as isize;
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
    }

    fn deallocated(&self, _: usize, object_size: usize, _: usize, _: AllocationGroupId, _: AllocationGroupId) {
        if MEASURING.try_with(Cell::get).unwrap_or(false) {
            NOW.fetch_sub(object_size as isize, Ordering::SeqCst);
        }
    }
}

const BUDGET: usize = 64 * 1024;

/// `add.wasm` with custom sections of `sizes` bytes, a delimiter after each.
fn module(sizes: &[usize]) -> Vec<u8> {
    let mut m = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/wasmsign2/modules/add.wasm"))
        .expect("add.wasm");
    for (i, n) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*n).map(|j| (j % 251) as u8).collect();
        m.extend(wsc_core::format::encode_custom_section(&format!("blob{i}"), &data).expect("section"));
        m.extend(wsc_core::format::encode_custom_section(wsc_core::format::DELIMITER_SECTION, &[]).expect("delimiter"));
    }
    m
}

/// What `f` returns, and the peak heap growth while it ran.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        AllocationRegistry::set_global_tracker(Heap).expect("no other tracker");
        AllocationRegistry::enable_tracking();
    });
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    NOW.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    MEASURING.with(|m| m.set(true));
    let out = f();
    MEASURING.with(|m| m.set(false));
    (out, usize::try_from(PEAK.load(Ordering::SeqCst)).unwrap_or(0))
}

/// Peak heap growth while verifying `signed` fed in 4 KiB pieces.
fn peak_growth(signed: &[u8], verifiers: &[&dyn RecordVerifier], scope: Scope<'_>) -> usize {
    let (report, grown) = measured(|| {
        let mut v = StreamVerifier::embedded(&Verification::new(verifiers).scope(scope));
        for piece in signed.chunks(4096) {
            v.update(piece).expect("update");
        }
        v.finish().expect("report")
    });
    assert!(report.any_verified(), "{:?}", report.results);
    grown
}

#[test]
fn streaming_verification_heap_is_bounded_beyond_the_signature_section() {
    let k1 = SecretKey::from_any(
        &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/wasmsign2/keys/k1.sk")).expect("k1"),
    )
    .expect("key");
    let public = k1.public_key();
    let verifiers: [&dyn RecordVerifier; 1] = [&public];
    let debug = |h: &SectionHeader| h.custom_name().is_none_or(|n| !n.starts_with("blob3"));
    for sizes in [vec![20 * 1024 * 1024], vec![5 * 1024 * 1024; 4], vec![1024; 40]] {
        let signed = wsc_core::sign(&module(&sizes), &k1).expect("sign");
        let signature_section = {
            let h = wsc_core::format::SectionReader::new(signed.as_slice()).expect("reader").next_header().expect("h");
            let h = h.expect("a signature section");
            assert!(h.is_signature());
            (h.end() - h.offset) as usize
        };
        for (name, scope) in [("whole", Scope::Whole), ("partial", Scope::Partial(&debug))] {
            let grown = peak_growth(&signed, &verifiers, scope);
            assert!(
                grown <= BUDGET + signature_section,
                "{sizes:?} {name}: {grown} bytes of heap, budget {BUDGET} + signature section {signature_section}"
            );
            eprintln!("{} MB, {name}: peak {grown} bytes (signature section {signature_section})", signed.len() >> 20);
        }
    }
}

/// A section: id, LEB128 size, payload.
fn section(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    let mut v = payload.len();
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out.extend_from_slice(payload);
    out
}

/// The component tree walk holds its 64 KiB read buffer and the parts,
/// never a nested payload: a 20 MB module two levels down costs nothing.
#[test]
fn component_tree_heap_is_flat_in_the_input_size() {
    let big = module(&[20 * 1024 * 1024]);
    let mut inner = wsc_core::format::COMPONENT_PREAMBLE.to_vec();
    inner.extend(section(1, &big));
    let mut outer = wsc_core::format::COMPONENT_PREAMBLE.to_vec();
    outer.extend(section(4, &inner));
    outer.extend(section(1, &big));
    let (parts, grown) = measured(|| wsc_core::component_tree(outer.as_slice(), &wsc_core::TreeLimits::default()));
    let parts = parts.expect("tree");
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().skip(1).all(|p| p.len == big.len() as u64 || p.len == inner.len() as u64));
    assert!(grown <= 64 * 1024 + BUDGET, "{grown} bytes of heap for a {} MB component", outer.len() >> 20);
    eprintln!("{} MB component tree: peak {grown} bytes", outer.len() >> 20);
}
