//! Fuzz target `sections`: SectionReader over arbitrary bytes: every header read, every payload streamed.
//! The logic and its invariants live in `wsc_fuzz::sections` (fuzz/src/lib.rs).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wsc_fuzz::sections(data);
});
