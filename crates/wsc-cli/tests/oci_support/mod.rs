//! Helpers shared by the `wsc oci` tests (oci.rs and oci_interop.rs).

use std::path::Path;
use std::process::Output;

/// Stdout and stderr, for assertion messages.
pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Exit 0, or a panic with the output.
pub(crate) fn ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
}

pub(crate) fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in `dir`, sorted.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
