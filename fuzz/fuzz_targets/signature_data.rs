//! Fuzz target `signature_data`: SignatureData::decode, then encode; decode(encode(x)) has x's sets.
//! The logic and its invariants live in `wsc_fuzz::signature_data` (fuzz/src/lib.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wsc_fuzz::signature_data(data);
});
