//! Fuzz target `keys`: PublicKey::from_any and SecretKey::from_any on arbitrary bytes.
//! The logic and its invariants live in `wsc_fuzz::keys` (fuzz/src/lib.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wsc_fuzz::keys(data);
});
