//! A wasmi host that runs a WebAssembly module only after its signature
//! verifies.
//!
//! With a module path and a public key path, it verifies the whole module
//! with wsc-core, then instantiates it with wasmi and calls its exported
//! `add(i32, i32) -> i32`. Two more arguments, when given, are the numbers
//! to add. With no arguments, it runs a demo in memory: a signed module
//! runs, while an unsigned and a tampered module are refused before wasmi
//! sees them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use rand_core::OsRng;
use wsc_core::{KeyAlgorithm, PublicKey, SecretKey, Verified, sign};

const USAGE: &str = "usage: example-wasmi-host [MODULE.wasm PUBLIC_KEY [A B]]";

/// Largest module file the host reads.
const MAX_MODULE_LEN: u64 = 64 * 1024 * 1024;

/// Module bytes whose whole-module signature verified with the host's key.
/// It is the only way to reach wasmi here, so nothing unverified runs.
#[derive(Debug)]
struct VerifiedModule<'a> {
    bytes: &'a [u8],
    verified: Verified,
}

impl<'a> VerifiedModule<'a> {
    /// Verifies `bytes`; the same bytes are later given to wasmi.
    fn new(bytes: &'a [u8], key: &PublicKey) -> Result<Self> {
        // Format the wsc error once: its chain repeats the cause.
        let verified =
            wsc_core::verify(bytes, key).map_err(|e| anyhow!("refusing to run the module: {}", wsc_core::Chain(&e)))?;
        Ok(VerifiedModule { bytes, verified })
    }

    /// Instantiates the module (it may import nothing) and calls `add(a, b)`.
    fn call_add(&self, a: i32, b: i32) -> Result<i32> {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, self.bytes).context("wasmi rejected the module")?;
        let mut store = wasmi::Store::new(&engine, ());
        let linker = wasmi::Linker::<()>::new(&engine);
        let instance = linker.instantiate_and_start(&mut store, &module).context("instantiating the module")?;
        let add = instance
            .get_typed_func::<(i32, i32), i32>(&store, "add")
            .context("the module exports no `add(i32, i32) -> i32`")?;
        add.call(&mut store, (a, b)).context("`add` trapped")
    }
}

/// Verifies, then runs: the whole path a module takes through the host.
fn run(bytes: &[u8], key: &PublicKey, a: i32, b: i32) -> Result<i32> {
    let module = VerifiedModule::new(bytes, key)?;
    let v = &module.verified;
    println!(
        "verified: whole module, bytes {}..{} of {}, {} signature(s) by key {}",
        v.start,
        v.verified_end,
        v.end,
        v.signatures.len(),
        key.key_id()
    );
    let sum = module.call_add(a, b)?;
    println!("add({a}, {b}) = {sum}");
    Ok(sum)
}

/// A module that exports `add(i32, i32) -> i32`.
fn add_module() -> Vec<u8> {
    vec![
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // preamble
        0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32, i32) -> i32
        0x03, 0x02, 0x01, 0x00, // function 0 has type 0
        0x07, 0x07, 0x01, 0x03, b'a', b'd', b'd', 0x00, 0x00, // export "add"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // local.get 0, local.get 1, i32.add
    ]
}

/// Turns the last `i32.add` (0x6a) into `i32.sub` (0x6b): still a valid
/// module, but not the one that was signed.
fn tamper(signed: &[u8]) -> Result<Vec<u8>> {
    let at = signed.iter().rposition(|&b| b == 0x6a).context("no i32.add in the module")?;
    let mut copy = signed.to_vec();
    copy[at] = 0x6b;
    Ok(copy)
}

/// The demo: three modules, one key; only the signed module may run.
fn demo() -> Result<()> {
    let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut OsRng);
    let public = key.public_key();
    let unsigned = add_module();
    let signed = sign(&unsigned, &key)?;
    let tampered = tamper(&signed)?;

    let mut failures = Vec::new();
    let mut case = |name: &str, bytes: &[u8], must_run: bool| {
        println!("\n{name} ({} bytes):", bytes.len());
        let outcome = run(bytes, &public, 40, 2);
        if let Err(e) = &outcome {
            println!("refused: {e:#}");
        }
        let as_expected = match outcome {
            Ok(sum) => must_run && sum == 42,
            Err(_) => !must_run,
        };
        if !as_expected {
            failures.push(name.to_owned());
        }
        println!("{}", if as_expected { "as expected" } else { "NOT as expected" });
    };
    println!("demo with a fresh Ed25519 key, id {}", public.key_id());
    case("signed module", &signed, true);
    case("unsigned module", &unsigned, false);
    case("tampered module (i32.add changed to i32.sub)", &tampered, false);

    if !failures.is_empty() {
        bail!("unexpected outcome for: {}", failures.join(", "));
    }
    println!("\nall three cases behaved as expected");
    Ok(())
}

/// Reads a module file into memory, refusing very large files.
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if len > MAX_MODULE_LEN {
        bail!("{} is {len} bytes, more than this host reads ({MAX_MODULE_LEN})", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Parses a number to add.
fn parse_i32(arg: &std::ffi::OsStr) -> Result<i32> {
    arg.to_str().and_then(|s| s.parse().ok()).with_context(|| format!("not an i32: {}\n{USAGE}", arg.to_string_lossy()))
}

/// Runs the demo, or verifies and runs the module given on the command line.
fn main_inner() -> Result<()> {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let (module_path, key_path, a, b) = match args.as_slice() {
        [] => return demo(),
        [m, k] => (m, k, 40, 2),
        [m, k, a, b] => (m, k, parse_i32(a)?, parse_i32(b)?),
        _ => bail!("{USAGE}"),
    };
    let key_path = Path::new(key_path);
    let key_bytes = std::fs::read(key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let key =
        PublicKey::from_any(&key_bytes).with_context(|| format!("reading the public key {}", key_path.display()))?;
    let bytes = read_module(Path::new(module_path))?;
    run(&bytes, &key, a, b)?;
    Ok(())
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
