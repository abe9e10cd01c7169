//! Fuzz target `verify`: verify_embedded and verify_detached with a fixed Ed25519 key, whole and partial scope.
//! The logic and its invariants live in `wsc_fuzz::verify` (fuzz/src/lib.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsc_fuzz::verify(data);
});
