//! The no_std size probe: [`wsc_probe_verify_ed25519`] verifies one module
//! held in memory with one Ed25519 public key, through wsc-core's
//! streaming verifier, with wsc-core built without `std`.
//!
//! The heap is a bump allocator over a static arena. It also takes back
//! the most recent allocation and grows or shrinks it in place, so most
//! short-lived buffers are reused. Its high-water mark is the arena a
//! device needs with this allocator; the peak of live bytes is what any
//! allocator must hold at once. The program that links the library
//! provides `wsc_probe_abort`, what a panic does (on a device, a reset).

#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use wsc_core::{PublicKey, RecordVerifier, Scope, StreamVerifier, Verification};

/// Size of the heap arena, in bytes.
const ARENA_SIZE: usize = 64 * 1024;

/// Bytes handed to the verifier per call, as a device reading flash would.
const PIECE: usize = 4096;

/// Verifies `module` (`module_len` bytes, carrying its `signature`
/// section) with the Ed25519 public key `public_key` (32 bytes). Returns 1
/// when a signature of that key covers the whole module, else 0.
///
/// # Safety
///
/// `public_key` is NULL or points to 32 readable bytes; `module` is NULL
/// or points to `module_len` readable bytes.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wsc_probe_verify_ed25519(public_key: *const u8, module: *const u8, module_len: usize) -> i32 {
    if public_key.is_null() || module.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract above.
    let (key, module) = unsafe { (&*public_key.cast::<[u8; 32]>(), core::slice::from_raw_parts(module, module_len)) };
    i32::from(verify(key, module))
}

/// Whether a signature of `key` covers the whole of `module`.
fn verify(key: &[u8; 32], module: &[u8]) -> bool {
    // wasmsign2's raw public key: 0x01, then the key.
    let mut raw = [0u8; 33];
    raw[0] = 0x01;
    raw[1..].copy_from_slice(key);
    let Ok(key) = PublicKey::from_any(&raw) else {
        return false;
    };
    let verifiers: [&dyn RecordVerifier; 1] = [&key];
    let check = Verification::new(&verifiers).scope(Scope::Whole).total_len(Some(module.len() as u64));
    let mut verifier = StreamVerifier::embedded(&check);
    for piece in module.chunks(PIECE) {
        if verifier.update(piece).is_err() {
            return false;
        }
    }
    verifier.finish().and_then(|report| report.single()).is_ok_and(|verified| verified.whole)
}

/// The most arena bytes in use at once (the allocator's high-water mark).
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn wsc_probe_heap_high_water() -> usize {
    HEAP.high_water.load(Ordering::Relaxed)
}

/// The most bytes allocated and not yet freed at once.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn wsc_probe_heap_peak_live() -> usize {
    HEAP.peak_live.load(Ordering::Relaxed)
}

/// Bytes allocated and not yet freed now.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn wsc_probe_heap_live() -> usize {
    HEAP.live.load(Ordering::Relaxed)
}

#[allow(unsafe_code)]
unsafe extern "C" {
    /// What a panic does; provided by the program that links the library.
    fn wsc_probe_abort() -> !;
}

#[allow(unsafe_code)]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the function takes nothing and does not return.
    unsafe { wsc_probe_abort() }
}

/// The arena and its marks. Offsets are from the arena's start.
#[repr(C, align(16))]
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_SIZE]>,
    /// End of the most recent allocation.
    top: AtomicUsize,
    high_water: AtomicUsize,
    live: AtomicUsize,
    peak_live: AtomicUsize,
}

// SAFETY: the allocator hands out disjoint ranges of `bytes`, claimed with
// atomic compare-and-swap on `top`.
#[allow(unsafe_code)]
unsafe impl Sync for Arena {}

#[global_allocator]
static HEAP: Arena = Arena {
    bytes: UnsafeCell::new([0; ARENA_SIZE]),
    top: AtomicUsize::new(0),
    high_water: AtomicUsize::new(0),
    live: AtomicUsize::new(0),
    peak_live: AtomicUsize::new(0),
};

impl Arena {
    fn base(&self) -> usize {
        self.bytes.get() as usize
    }

    /// Records `grew` more live bytes and a top at `end`.
    fn note(&self, grew: usize, end: usize) {
        let live = self.live.fetch_add(grew, Ordering::Relaxed) + grew;
        self.peak_live.fetch_max(live, Ordering::Relaxed);
        self.high_water.fetch_max(end, Ordering::Relaxed);
    }
}

// SAFETY: every block lies inside `bytes`, is aligned as asked, and is
// claimed by one successful compare-and-swap of `top`, so no two live
// blocks overlap; a block is only given back when it ends at `top`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = self.base();
        let mut top = self.top.load(Ordering::Relaxed);
        loop {
            let Some(start) = (base + top).checked_next_multiple_of(layout.align()).map(|a| a - base) else {
                return core::ptr::null_mut();
            };
            let Some(end) = start.checked_add(layout.size()).filter(|&end| end <= ARENA_SIZE) else {
                return core::ptr::null_mut();
            };
            match self.top.compare_exchange_weak(top, end, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    self.note(layout.size(), end);
                    return (base + start) as *mut u8;
                }
                Err(now) => top = now,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
        let start = ptr as usize - self.base();
        // Only the most recent block goes back; the others stay used.
        let _ = self.top.compare_exchange(start + layout.size(), start, Ordering::AcqRel, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize - self.base();
        let old_end = start + layout.size();
        if let Some(new_end) = start.checked_add(new_size).filter(|&end| end <= ARENA_SIZE) {
            // The most recent block grows or shrinks where it is.
            if self.top.compare_exchange(old_end, new_end, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.live.fetch_sub(layout.size(), Ordering::Relaxed);
                self.note(new_size, new_end);
                return ptr;
            }
        }
        if new_size <= layout.size() {
            // Another block shrinks in place; its tail stays used.
            self.live.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            return ptr;
        }
        // SAFETY: `new_size` is nonzero and, rounded up to the alignment,
        // fits `isize` (the caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a valid layout of nonzero size.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, disjoint and at least
            // `layout.size()` long; the old one is then given back.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
