//! include/wsc.h is what cbindgen makes of src/lib.rs now.
//! `WSC_BLESS=1 cargo test -p wsc-ffi --test header` rewrites it.

use std::path::Path;

#[test]
fn the_committed_header_is_the_generated_one() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let path = dir.join("include/wsc.h");
    if std::env::var_os("WSC_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/wsc.h");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/wsc.h differs from what cbindgen generates; run WSC_BLESS=1 cargo test -p wsc-ffi --test header"
    );
}
