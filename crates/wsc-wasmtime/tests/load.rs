//! Verify-then-compile against real wasmtime. Each engine counts what
//! reaches Cranelift through an incremental compilation cache (every
//! function compiled asks it once): a refused input must leave the count
//! at zero, an admitted one must raise it.

use std::borrow::Cow;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::{CacheStore, Config, Engine, Instance, Store};
use wsc_policy::{Decision, Format, MemoryFiles, Policy};
use wsc_wasmtime::{Error, Kind, Loader, SealError, SealKey};

/// Counts the compiler's cache lookups; stores nothing, so every function
/// is compiled.
#[derive(Debug, Default)]
struct Counter(AtomicUsize);

impl CacheStore for Counter {
    fn get(&self, _key: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        None
    }

    fn insert(&self, _key: &[u8], _value: Vec<u8>) -> bool {
        false
    }
}

fn counting_engine() -> (Engine, Arc<Counter>) {
    let counter = Arc::new(Counter::default());
    let mut config = Config::new();
    config.enable_incremental_compilation(counter.clone()).expect("incremental cache");
    (Engine::new(&config).expect("engine"), counter)
}

fn compiled(counter: &Counter) -> usize {
    counter.0.load(Ordering::SeqCst)
}

fn keys() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/wasmsign2/keys"))
}

fn secret(name: &str) -> wsc_core::SecretKey {
    wsc_core::SecretKey::from_any(&std::fs::read(keys().join(name)).expect("key")).expect("secret key")
}

/// A policy that wants k1's signature on the whole module, in `mode`.
fn policy(mode: &str) -> Policy {
    let text = format!(
        "schema = \"wsc-policy/v1\"\n[principals.k1]\nkind = \"key\"\nalgorithm = \"ed25519\"\nfile = \"k1.pk\"\n\
         [[scopes]]\nname = \"plugins\"\nmatch = {{ path_glob = \"plugins/*.wasm\" }}\nrule = \"k1\"\nmode = \"{mode}\"\n\
         [default]\nrule = \"k1\"\n"
    );
    let mut files = MemoryFiles::new();
    files.insert("k1.pk", std::fs::read(keys().join("k1.pk")).expect("k1.pk"));
    wsc_policy::parse(text.as_bytes(), Format::Toml, &files).expect("policy")
}

/// A core module that exports `add(i32, i32) -> i32`.
fn add_module() -> Vec<u8> {
    vec![
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // preamble
        0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32, i32) -> i32
        0x03, 0x02, 0x01, 0x00, // function 0 has type 0
        0x07, 0x07, 0x01, 0x03, b'a', b'd', b'd', 0x00, 0x00, // export "add"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // local.get 0, local.get 1, i32.add
    ]
}

/// The WASI command component of testdata/components.
fn hello_component() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/components/hello.wasm")).expect("hello.wasm")
}

fn sign(bytes: &[u8], key: &str) -> Vec<u8> {
    wsc_core::sign(bytes, &secret(key)).expect("sign")
}

/// Changes the last `i32.add` into `i32.sub`: valid, not what was signed.
fn tamper_add(signed: &[u8]) -> Vec<u8> {
    let at = signed.iter().rposition(|&b| b == 0x6a).expect("i32.add");
    let mut copy = signed.to_vec();
    copy[at] = 0x6b;
    copy
}

fn call_add(engine: &Engine, module: &wasmtime::Module) -> i32 {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).expect("instantiate");
    let add = instance.get_typed_func::<(i32, i32), i32>(&mut store, "add").expect("add");
    add.call(&mut store, (40, 2)).expect("call")
}

#[test]
fn a_signed_module_is_compiled_and_runs() {
    let (engine, counter) = counting_engine();
    let policy = policy("enforce");
    let verified = Loader::new(&engine, &policy).module(&sign(&add_module(), "k1.sk")).expect("admitted");
    assert_eq!(verified.verdict().decision(), Decision::Accepted);
    assert!(compiled(&counter) > 0, "the counter sees compilations");
    assert_eq!(call_add(&engine, verified.value()), 42);
}

#[test]
fn refused_inputs_never_reach_the_compiler() {
    let policy = policy("enforce");
    let signed = sign(&add_module(), "k1.sk");
    let component = sign(&hello_component(), "k1.sk");
    type Case = (&'static str, Vec<u8>, fn(&Error) -> bool);
    let cases: Vec<Case> = vec![
        ("unsigned", add_module(), |e| matches!(e, Error::Rejected(_))),
        ("tampered", tamper_add(&signed), |e| matches!(e, Error::Rejected(_))),
        ("wrong signer", sign(&add_module(), "k2.sk"), |e| matches!(e, Error::Rejected(_))),
        ("not wasm", b"\x7fELF\x02\x01\x01\0 not a module".to_vec(), |e| matches!(e, Error::WrongKind { .. })),
        ("a component given as a module", component, |e| matches!(e, Error::WrongKind { .. })),
        ("truncated", signed[..signed.len() - 3].to_vec(), |e| matches!(e, Error::Evaluate(_))),
    ];
    for (name, bytes, expected) in cases {
        let (engine, counter) = counting_engine();
        let err = Loader::new(&engine, &policy).module(&bytes).expect_err(name);
        assert!(expected(&err), "{name}: {err:?}");
        assert_eq!(compiled(&counter), 0, "{name}: compiled");
        // The same through a reader and through precompile.
        let err = Loader::new(&engine, &policy).module_from_reader(&bytes[..]).expect_err(name);
        assert!(expected(&err) || matches!(err, Error::Evaluate(_)), "{name} (reader): {err:?}");
        if Kind::of(&bytes) != Some(Kind::Component) {
            let _ = Loader::new(&engine, &policy).precompile(&bytes, &SealKey::generate()).expect_err(name);
        }
        assert_eq!(compiled(&counter), 0, "{name}: compiled through a reader or precompile");
    }
}

#[test]
fn the_rejection_carries_the_verdict() {
    let (engine, _) = counting_engine();
    let policy = policy("enforce");
    let Err(Error::Rejected(verdict)) = Loader::new(&engine, &policy).module(&add_module()) else {
        panic!("unsigned must be rejected");
    };
    assert_eq!(verdict.decision(), Decision::Rejected);
    let message = Error::Rejected(verdict).to_string();
    assert!(message.starts_with("the policy is not met ("), "{message}");
}

#[test]
fn components_are_verified_then_compiled() {
    let policy = policy("enforce");
    let signed = sign(&hello_component(), "k1.sk");
    let (engine, counter) = counting_engine();
    let verified = Loader::new(&engine, &policy).component(&signed).expect("admitted");
    assert_eq!(verified.verdict().decision(), Decision::Accepted);
    assert!(compiled(&counter) > 0);

    let mut tampered = signed.clone();
    let at = tampered.windows(5).position(|w| w == b"hello").expect("the text");
    tampered[at] = b'j';
    for bytes in [tampered, hello_component()] {
        let (engine, counter) = counting_engine();
        let err = Loader::new(&engine, &policy).component(&bytes).expect_err("refused");
        assert!(matches!(err, Error::Rejected(_)), "{err:?}");
        assert_eq!(compiled(&counter), 0);
    }
    let (engine, counter) = counting_engine();
    let err = Loader::new(&engine, &policy).component(&sign(&add_module(), "k1.sk")).expect_err("a module");
    assert!(matches!(err, Error::WrongKind { expected: Kind::Component, .. }), "{err:?}");
    assert_eq!(compiled(&counter), 0);
}

#[test]
fn a_reader_is_read_once_and_its_bytes_compiled() {
    let policy = policy("enforce");
    let signed = sign(&add_module(), "k1.sk");

    /// Gives one byte per read, to cross every boundary.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }
    let (engine, _) = counting_engine();
    let verified = Loader::new(&engine, &policy).module_from_reader(Trickle(&signed)).expect("admitted");
    assert_eq!(call_add(&engine, verified.value()), 42);

    let (engine, counter) = counting_engine();
    let limit = signed.len() as u64 - 1;
    let err = Loader::new(&engine, &policy).max_size(limit).module_from_reader(&signed[..]).expect_err("too large");
    assert!(matches!(err, Error::TooLarge { limit: l } if l == limit), "{err:?}");
    assert_eq!(compiled(&counter), 0);

    /// Fails after its first bytes.
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "the peer went away"));
            }
            let n = self.0.min(buf.len());
            buf[..n].copy_from_slice(&b"\0asm\x01\0\0\0"[..n]);
            self.0 -= n;
            Ok(n)
        }
    }
    let err = Loader::new(&engine, &policy).module_from_reader(Broken(8)).expect_err("broken");
    let Error::Read(e) = &err else { panic!("{err:?}") };
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(compiled(&counter), 0);
}

#[test]
fn an_audit_scope_lets_a_rejected_module_run_and_says_so() {
    let (engine, counter) = counting_engine();
    let policy = policy("audit");
    let loader = Loader::new(&engine, &policy).target(wsc_policy::Target::path("plugins/add.wasm"));
    let verified = loader.module(&add_module()).expect("audit mode admits");
    assert_eq!(verified.verdict().decision(), Decision::AuditRejected);
    assert!(compiled(&counter) > 0);
    // The default scope enforces.
    let (engine, _) = counting_engine();
    let err = Loader::new(&engine, &policy).module(&add_module()).expect_err("enforced");
    assert!(matches!(err, Error::Rejected(_)));
}

#[test]
fn a_sealed_artifact_loads_without_compiling() {
    let policy = policy("enforce");
    let key = SealKey::generate();
    let signed = sign(&add_module(), "k1.sk");
    let (engine, counter) = counting_engine();
    let pre = Loader::new(&engine, &policy).precompile(&signed, &key).expect("precompile").into_inner();
    assert!(compiled(&counter) > 0);
    assert!(Engine::detect_precompiled(&pre.cwasm).is_some());

    let (engine2, counter2) = counting_engine();
    let (module, unsealed) =
        Loader::new(&engine2, &policy).deserialize_module(&pre.cwasm, &pre.seal, &key).expect("sealed");
    assert_eq!(compiled(&counter2), 0, "deserializing compiles nothing");
    assert_eq!(unsealed.kind, Kind::Module);
    assert_eq!(unsealed.source_sha256, sha256(&signed));
    assert_eq!(unsealed.decision, "accepted");
    assert_eq!(call_add(&engine2, &module), 42);
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[test]
fn a_seal_opens_only_for_its_artifact_key_kind_and_policy() {
    let policy = policy("enforce");
    let key = SealKey::generate();
    let (engine, _) = counting_engine();
    let loader = Loader::new(&engine, &policy);
    let pre = loader.precompile(&sign(&add_module(), "k1.sk"), &key).expect("precompile").into_inner();
    let seal = String::from_utf8(pre.seal.clone()).expect("text");

    // An artifact compiled from an unsigned module, sealed by someone
    // without the key: the MAC fails.
    let forged_cwasm = engine.precompile_module(&add_module()).expect("precompile");
    let forged_seal = seal.replace(&hex(&sha256(&pre.cwasm)), &hex(&sha256(&forged_cwasm)));

    let mut flipped = pre.cwasm.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let other_policy = {
        let mut files = MemoryFiles::new();
        files.insert("k2.pk", std::fs::read(keys().join("k2.pk")).expect("k2.pk"));
        let text = "schema = \"wsc-policy/v1\"\n[principals.k2]\nkind = \"key\"\nalgorithm = \"ed25519\"\n\
                    file = \"k2.pk\"\n[default]\nrule = \"k2\"\n";
        wsc_policy::parse(text.as_bytes(), Format::Toml, &files).expect("policy")
    };

    type Case = (&'static str, Vec<u8>, Vec<u8>, SealKey, fn(&SealError) -> bool);
    let cases: Vec<Case> = vec![
        ("forged seal", forged_cwasm, forged_seal.into_bytes(), key.clone(), |e| matches!(e, SealError::Mac)),
        ("other key", pre.cwasm.clone(), pre.seal.clone(), SealKey::generate(), |e| matches!(e, SealError::Mac)),
        ("altered artifact", flipped, pre.seal.clone(), key.clone(), |e| matches!(e, SealError::Artifact)),
        (
            "altered decision",
            pre.cwasm.clone(),
            seal.replace("decision accepted", "decision audit_rejected").into_bytes(),
            key.clone(),
            |e| matches!(e, SealError::Mac),
        ),
        ("truncated", pre.cwasm.clone(), pre.seal[..pre.seal.len() - 10].to_vec(), key.clone(), |e| {
            matches!(e, SealError::Malformed { line: 8, .. })
        }),
        ("extra line", pre.cwasm.clone(), [pre.seal.as_slice(), b"more\n"].concat(), key.clone(), |e| {
            matches!(e, SealError::Malformed { line: 9, .. })
        }),
        ("empty", pre.cwasm.clone(), Vec::new(), key.clone(), |e| matches!(e, SealError::Malformed { line: 1, .. })),
        ("huge", pre.cwasm.clone(), vec![b'a'; 4096], key.clone(), |e| matches!(e, SealError::TooLong)),
    ];
    for (name, cwasm, seal, key, expected) in cases {
        let (engine, _) = counting_engine();
        let err = Loader::new(&engine, &policy).deserialize_module(&cwasm, &seal, &key).expect_err(name);
        let Error::Seal(e) = &err else { panic!("{name}: {err:?}") };
        assert!(expected(e), "{name}: {e:?}");
    }

    let err = loader.deserialize_component(&pre.cwasm, &pre.seal, &key).expect_err("kind");
    assert!(matches!(err, Error::Seal(SealError::Kind { expected: Kind::Component })), "{err:?}");
    let err = Loader::new(&engine, &other_policy).deserialize_module(&pre.cwasm, &pre.seal, &key).expect_err("policy");
    assert!(matches!(err, Error::Seal(SealError::Policy { .. })), "{err:?}");
}

#[test]
fn a_sealed_component_loads() {
    let policy = policy("enforce");
    let key = SealKey::generate();
    let (engine, _) = counting_engine();
    let loader = Loader::new(&engine, &policy);
    let pre = loader.precompile(&sign(&hello_component(), "k1.sk"), &key).expect("precompile").into_inner();
    let (engine2, counter2) = counting_engine();
    let (_component, unsealed) =
        Loader::new(&engine2, &policy).deserialize_component(&pre.cwasm, &pre.seal, &key).expect("sealed");
    assert_eq!(unsealed.kind, Kind::Component);
    assert_eq!(compiled(&counter2), 0);
}

#[test]
fn the_seal_key_is_not_printed() {
    let key = SealKey::from_bytes([0x5a; 32]);
    let shown = format!("{key:?}");
    assert_eq!(shown, "SealKey(..)");
    assert!(!shown.contains("5a") && !shown.contains("90"), "{shown}");
}

fn hex(bytes: &[u8]) -> String {
    wsc_core::keys::hex(bytes)
}
