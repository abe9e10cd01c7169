//! The component tree: nested core modules and components found in one
//! streaming pass, with offsets, kinds, own signatures and limits.

use std::path::Path;

use wsc_core::format::{COMPONENT_PREAMBLE, ModuleKind};
use wsc_core::{
    Error, Part, SecretKey, TreeLimits, component_tree, component_tree_buffered, component_tree_seekable,
    component_tree_slice,
};

fn data(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn add() -> Vec<u8> {
    data("wasmsign2/modules/add.wasm")
}

fn k1() -> SecretKey {
    SecretKey::from_any(&data("wasmsign2/keys/k1.sk")).expect("k1")
}

fn leb(mut v: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// A section: id, LEB128 size, payload.
fn section(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(leb(payload.len()));
    out.extend_from_slice(payload);
    out
}

/// A core module section holding `m`.
fn module(m: &[u8]) -> Vec<u8> {
    section(1, m)
}

/// A component section holding the component made of `sections`.
fn nested(sections: &[Vec<u8>]) -> Vec<u8> {
    section(4, &component(sections))
}

/// A component made of `sections`.
fn component(sections: &[Vec<u8>]) -> Vec<u8> {
    let mut out = COMPONENT_PREAMBLE.to_vec();
    for s in sections {
        out.extend_from_slice(s);
    }
    out
}

/// Offset of the payload of a section whose header starts at `at`.
fn payload(at: usize, len: usize) -> u64 {
    (at + 1 + leb(len).len()) as u64
}

/// Walks `input` every way (reader, caller's buffer, seeking, slice) and
/// checks they agree.
fn tree(input: &[u8], limits: &TreeLimits) -> Result<Vec<Part>, Error> {
    let streamed = component_tree(input, limits);
    let sliced = component_tree_slice(input, limits);
    assert_eq!(format!("{streamed:?}"), format!("{sliced:?}"));
    let buffered = component_tree_buffered(std::io::BufReader::with_capacity(7, input), limits);
    assert_eq!(format!("{buffered:?}"), format!("{streamed:?}"));
    let seeking = component_tree_seekable(std::io::Cursor::new(input), limits);
    assert_eq!(format!("{seeking:?}"), format!("{sliced:?}"));
    streamed
}

/// Walks `input` every way: on broken input the reader may meet the end
/// where the slice (or the seeking walk, which takes the length first)
/// refuses a size first, but all find the same tree or none.
fn agreeing(input: &[u8]) -> Result<Vec<Part>, Error> {
    let limits = TreeLimits::default();
    let streamed = component_tree(input, &limits);
    let sliced = component_tree_slice(input, &limits);
    assert_eq!(streamed.as_ref().ok(), sliced.as_ref().ok(), "{input:02x?}");
    let buffered = component_tree_buffered(std::io::BufReader::with_capacity(7, input), &limits);
    assert_eq!(buffered.as_ref().ok(), streamed.as_ref().ok(), "{input:02x?}");
    let seeking = component_tree_seekable(std::io::Cursor::new(input), &limits);
    assert_eq!(format!("{seeking:?}"), format!("{sliced:?}"), "{input:02x?}");
    streamed
}

/// (path, kind, offset, len, signed) of each part.
type Row = (Vec<u32>, ModuleKind, u64, u64, bool);

fn rows(parts: &[Part]) -> Vec<Row> {
    parts.iter().map(|p| (p.path.clone(), p.kind, p.offset, p.len, p.signed)).collect()
}

/// Every part's bytes start with its preamble and its depth is its path's length.
fn check_shape(input: &[u8], parts: &[Part]) {
    for p in parts {
        let bytes = &input[p.offset as usize..(p.offset + p.len) as usize];
        assert_eq!(bytes[..8], p.kind.preamble(), "{p:?}");
        assert_eq!(p.depth as usize, p.path.len(), "{p:?}");
    }
}

#[test]
fn nested_three_deep() {
    use ModuleKind::{Component, Module};
    let m = add();
    // root { module, component { custom, component { module } }, module }
    let inner = component(&[module(&m)]);
    let middle = component(&[section(0, b"\x04note"), section(4, &inner)]);
    let input = component(&[module(&m), section(4, &middle), module(&m)]);

    let a = 8;
    let b = a + 1 + leb(m.len()).len() + m.len();
    let b_payload = payload(b, middle.len());
    let c = b_payload as usize + 8 + 7;
    let c_payload = payload(c, inner.len());
    let d_payload = payload(c_payload as usize + 8, m.len());
    let e = b_payload as usize + middle.len();
    let want: Vec<Row> = vec![
        (vec![], Component, 0, input.len() as u64, false),
        (vec![0], Module, payload(a, m.len()), m.len() as u64, false),
        (vec![1], Component, b_payload, middle.len() as u64, false),
        (vec![1, 0], Component, c_payload, inner.len() as u64, false),
        (vec![1, 0, 0], Module, d_payload, m.len() as u64, false),
        (vec![2], Module, payload(e, m.len()), m.len() as u64, false),
    ];
    let parts = tree(&input, &TreeLimits::default()).expect("tree");
    assert_eq!(rows(&parts), want);
    assert_eq!(parts.iter().map(|p| p.depth).collect::<Vec<_>>(), [0, 1, 1, 2, 3, 1]);
    check_shape(&input, &parts);
    // Depth 3 is allowed by a limit of 3.
    assert!(tree(&input, &TreeLimits::default().with_max_depth(3)).is_ok());
}

#[test]
fn a_core_module_is_one_part() {
    for (m, signed) in [(add(), false), (wsc_core::sign(&add(), &k1()).expect("sign"), true)] {
        let parts = tree(&m, &TreeLimits::default()).expect("tree");
        assert_eq!(rows(&parts), [(vec![], ModuleKind::Module, 0, m.len() as u64, signed)]);
    }
}

#[test]
fn own_signature_sections_mark_parts_signed() {
    let key = k1();
    let plain = add();
    let signed = wsc_core::sign(&plain, &key).expect("sign");
    let input = component(&[module(&plain), module(&signed), nested(&[module(&signed), module(&plain)])]);
    let parts = tree(&input, &TreeLimits::default()).expect("tree");
    let flags: Vec<_> = parts.iter().map(|p| (p.path.clone(), p.signed)).collect();
    let want =
        [(vec![], false), (vec![0], false), (vec![1], true), (vec![2], false), (vec![2, 0], true), (vec![2, 1], false)];
    assert_eq!(flags, want);
    check_shape(&input, &parts);
    // A signed nested module still verifies in place.
    for p in parts.iter().filter(|p| p.signed) {
        let bytes = &input[p.offset as usize..(p.offset + p.len) as usize];
        assert!(wsc_core::verify(bytes, &key.public_key()).expect("verifies").whole);
    }

    // Signing the whole component marks the root only.
    let outer = wsc_core::sign(&input, &key).expect("sign the component");
    let parts = tree(&outer, &TreeLimits::default()).expect("tree");
    let flags: Vec<_> = parts.iter().map(|p| p.signed).collect();
    assert_eq!(flags, [true, false, true, false, true, false]);
    check_shape(&outer, &parts);
}

/// testdata/components/hello.wasm (wasm-tools 1.262.0, the preview1
/// adapter): four core modules and one component, as `wasm-tools objdump`
/// lists them.
#[test]
fn hello_component() {
    use ModuleKind::{Component, Module};
    let input = data("components/hello.wasm");
    let parts = tree(&input, &TreeLimits::default()).expect("tree");
    let want: Vec<Row> = vec![
        (vec![], Component, 0, 18430, false),
        (vec![0], Module, 0x805, 191, false),
        (vec![1], Module, 0x8c7, 9603, false),
        (vec![2], Module, 0x2e4d, 1067, false),
        (vec![3], Module, 0x36ad, 321, false),
        (vec![4], Component, 0x3a59, 63, false),
    ];
    assert_eq!(rows(&parts), want);
    check_shape(&input, &parts);
    // The limits count the root: six parts need a limit of six.
    assert!(tree(&input, &TreeLimits::default().with_max_parts(6)).is_ok());
    assert!(tree(&input, &TreeLimits::default().with_max_parts(5)).is_err());
}

/// The variant and offset of an error, and its message.
fn describe(e: &Error) -> (&'static str, u64, String) {
    let (name, offset) = match e {
        Error::TooLarge { offset, .. } => ("TooLarge", *offset),
        Error::TooMany { offset, what, .. } => (*what, *offset),
        Error::Malformed { offset, .. } => ("Malformed", *offset),
        Error::UnexpectedEof { offset, .. } => ("UnexpectedEof", *offset),
        Error::NestedPreamble { offset, .. } => ("NestedPreamble", *offset),
        other => panic!("unexpected error {other:?}"),
    };
    (name, offset, e.to_string())
}

/// (name, input, limits, expected error and offset, message part)
type Case<'a> = (&'a str, Vec<u8>, TreeLimits, (&'a str, u64), &'a str);

#[test]
fn crafted_trees_fail_with_the_offset() {
    let m = add();
    let three = component(&[module(&m), module(&m), module(&m)]);
    let deep = component(&[nested(&[nested(&[module(&m)])])]);
    // A component section of 20 bytes whose nested module claims 100.
    let mut past_parent = COMPONENT_PREAMBLE.to_vec();
    past_parent.extend([4, 20]);
    past_parent.extend(COMPONENT_PREAMBLE);
    past_parent.extend([1, 100]);
    past_parent.extend([0u8; 10]);
    past_parent.extend(section(0, b"\x03pad"));
    // A nested component whose last header (a custom section's size) runs past its end.
    let mut header_past = COMPONENT_PREAMBLE.to_vec();
    header_past.extend([4, 10]);
    header_past.extend(COMPONENT_PREAMBLE);
    header_past.extend([0, 0x80]);
    header_past.extend([0x01, 0x00]);
    let truncated = component(&[vec![1, 4, 0, 0x61, 0x73, 0x6d]]);
    let garbage = component(&[module(b"not wasm")]);
    let swapped = component(&[section(4, &m)]);
    let deep_module = {
        let inner = component(&[module(&m)]);
        let middle = component(&[section(4, &inner)]);
        (8 + 1 + leb(middle.len()).len() + 8 + 1 + leb(inner.len()).len() + 8) as u64
    };
    let third_module = (8 + 2 * (1 + leb(m.len()).len() + m.len())) as u64;
    // The input ends inside a nested preamble.
    let cut = {
        let mut c = component(&[module(&m)]);
        c.truncate(8 + 1 + leb(m.len()).len() + 5);
        c
    };
    let deflt = TreeLimits::default();
    let cases: Vec<Case<'_>> = vec![
        ("nested size past its parent's end", past_parent, deflt, ("TooLarge", 19), "at most 10"),
        ("header past its parent's end", header_past, deflt, ("Malformed", 20), "past the end of its parent"),
        ("nested part shorter than a preamble", truncated, deflt, ("Malformed", 10), "8-byte preamble"),
        ("nested part that is no preamble", garbage, deflt, ("NestedPreamble", 10), "module preamble"),
        (
            "component section holding a module",
            swapped,
            deflt,
            ("NestedPreamble", payload(8, m.len())),
            "component preamble",
        ),
        (
            "depth over the limit",
            deep.clone(),
            deflt.with_max_depth(2),
            ("component nesting depth", deep_module),
            "limit of 2",
        ),
        ("parts over the limit", three, deflt.with_max_parts(3), ("component parts", third_module), "limit of 3"),
        ("no parts at all", deep, deflt.with_max_parts(0), ("component parts", 0), "limit of 0"),
    ];
    for (name, input, limits, (variant, offset), text) in cases {
        let e = tree(&input, &limits).expect_err(name);
        let (got, at, msg) = describe(&e);
        assert_eq!((got, at), (variant, offset), "{name}: {msg}");
        assert!(msg.contains(&format!("offset {offset}")) && msg.contains(text), "{name}: {msg}");
    }
    // Cut inside a nested preamble: the reader meets the end of input; the
    // slice knows the length and refuses the section size first.
    let e = component_tree(cut.as_slice(), &deflt).expect_err("cut");
    assert_eq!(describe(&e).0, "UnexpectedEof", "{e}");
    assert_eq!(describe(&e).1, cut.len() as u64, "{e}");
    let e = component_tree_slice(&cut, &deflt).expect_err("cut");
    let (variant, offset, _) = describe(&e);
    assert_eq!((variant, offset), ("TooLarge", 9), "{e}");
}

/// Every prefix of hello.wasm is walked without a panic; the ones that
/// end between two of the root's sections give a tree inside the prefix.
#[test]
fn every_prefix_of_a_component_is_handled() {
    let input = data("components/hello.wasm");
    let mut ok = 0;
    for n in 0..input.len() {
        if let Ok(parts) = agreeing(&input[..n]) {
            ok += 1;
            assert_eq!(parts[0].len, n as u64);
            check_shape(&input[..n], &parts);
        }
    }
    assert!(ok > 10, "{ok}");
}

/// Every byte of a nested component set to a few extreme values: no
/// panic, and a tree that is found lies inside the input.
#[test]
fn mutated_components_are_handled() {
    let m = add();
    let input = component(&[module(&m), nested(&[section(0, b"\x09signature"), nested(&[module(&m)])])]);
    let mut ok = 0;
    for i in 0..input.len() {
        for v in [0x00, 0x01, 0x04, 0x7f, 0x80, 0xff] {
            let mut x = input.clone();
            x[i] = v;
            if let Ok(parts) = agreeing(&x) {
                ok += 1;
                check_shape(&x, &parts);
            }
        }
    }
    assert!(ok > input.len(), "{ok}");
}

/// The seeking walk reads headers and preambles, not section data: a few
/// KiB of a component holding 8 MiB of nested code, where the reading
/// walk reads it all.
#[test]
fn the_seeking_walk_reads_headers_only() {
    struct Counting<R>(R, u64);
    impl<R: std::io::Read> std::io::Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += n as u64;
            Ok(n)
        }
    }
    impl<R: std::io::Seek> std::io::Seek for Counting<R> {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.0.seek(to)
        }
    }
    let key = k1();
    let big = |n: usize| {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend(section(0, &[&[3u8][..], b"pad", &vec![7u8; n]].concat()));
        m
    };
    let signed = wsc_core::sign(&big(2 << 20), &key).expect("sign");
    let input = component(&[
        module(&signed),
        module(&big(2 << 20)),
        nested(&[module(&signed), module(&big(1 << 20)), section(0, &[&[3u8][..], b"pad", &[0; 9000]].concat())]),
    ]);
    let mut seeking = Counting(std::io::Cursor::new(&input), 0);
    let parts = component_tree_seekable(&mut seeking, &TreeLimits::default()).expect("tree");
    assert_eq!(parts, component_tree_slice(&input, &TreeLimits::default()).expect("tree"));
    assert_eq!(parts.iter().filter(|p| p.signed).count(), 2);
    assert!(seeking.1 < 40_000, "read {} of {} bytes", seeking.1, input.len());
    let mut reading = Counting(input.as_slice(), 0);
    component_tree(&mut reading, &TreeLimits::default()).expect("tree");
    assert_eq!(reading.1, input.len() as u64);
}
