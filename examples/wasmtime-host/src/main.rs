//! A wasmtime host that runs a WASI command component only after it meets
//! a wsc trust policy.
//!
//! `example-wasmtime-host COMPONENT.wasm POLICY.toml` verifies the
//! component against the policy (files named in it are read beside it),
//! then runs its `wasi:cli/run` with the host's standard output and error.
//! Exit codes: 0 ran and succeeded, 1 refused by the policy or the
//! component failed, 2 bad input.
//!
//! With no arguments it runs a demo in memory on
//! `testdata/components/hello.wasm`: signed with a fresh key, the component
//! runs, from source and from a sealed precompiled artifact; unsigned,
//! tampered and wrongly signed copies are refused before wasmtime
//! compiles them, and so is an artifact whose seal does not verify.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rand_core::OsRng;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wsc_core::{KeyAlgorithm, SecretKey};
use wsc_policy::{Format, MemoryFiles, Policy};
use wsc_wasmtime::wasmtime::component::{Component, Linker, ResourceTable};
use wsc_wasmtime::wasmtime::{Engine, Store};
use wsc_wasmtime::{Error, Loader, SealKey};

const USAGE: &str = "usage: example-wasmtime-host [COMPONENT.wasm POLICY.toml]";

/// The WASI command component of testdata/components (see make.sh there).
const HELLO: &[u8] = include_bytes!("../../../testdata/components/hello.wasm");
const HELLO_TEXT: &str = "hello from a verified WebAssembly component\n";

/// Largest component file the host reads.
const MAX_COMPONENT_LEN: u64 = 256 * 1024 * 1024;

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Runs a component's `wasi:cli/run`; `stdout`, when given, receives its
/// standard output instead of the host's.
fn run(engine: &Engine, component: &Component, stdout: Option<MemoryOutputPipe>) -> Result<()> {
    let mut linker = Linker::<Host>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut wasi = WasiCtx::builder();
    wasi.inherit_stderr();
    match stdout {
        Some(pipe) => wasi.stdout(pipe),
        None => wasi.inherit_stdout(),
    };
    let mut store = Store::new(engine, Host { wasi: wasi.build(), table: ResourceTable::new() });
    let command = wasmtime_wasi::p2::bindings::sync::Command::instantiate(&mut store, component, &linker)
        .map_err(|e| anyhow::anyhow!("instantiating the component: {e}"))?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(())) => bail!("the component's run returned an error"),
        Err(e) => bail!("the component trapped: {e}"),
    }
}

/// Verifies a component file against a policy file, then runs it.
fn verify_and_run(component: &Path, policy: &Path) -> Result<ExitCode> {
    let policy = wsc_policy::load_file(policy).with_context(|| format!("loading the policy {}", policy.display()))?;
    let file = std::fs::File::open(component).with_context(|| format!("opening {}", component.display()))?;
    let engine = Engine::default();
    let path = component.to_string_lossy();
    let loader = Loader::new(&engine, &policy).target(wsc_policy::Target::path(&path)).max_size(MAX_COMPONENT_LEN);
    match loader.component_from_reader(file) {
        Ok(verified) => {
            eprintln!("verified: {}", verified.verdict().to_json());
            run(&engine, verified.value(), None)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ Error::Rejected(_)) => {
            eprintln!("refused: {}", wsc_core::Chain(&e));
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {}", wsc_core::Chain(&e));
            Ok(ExitCode::from(2))
        }
    }
}

/// A policy that wants `key`'s signature on the whole component.
fn policy_for(key: &SecretKey) -> Result<Policy> {
    let mut files = MemoryFiles::new();
    files.insert("host.pub", key.public_key().to_pem()?.as_bytes());
    let text = "schema = \"wsc-policy/v1\"\n[principals.host]\nkind = \"key\"\nalgorithm = \"ed25519\"\n\
                file = \"host.pub\"\n[default]\nrule = \"host\"\n";
    Ok(wsc_policy::parse(text.as_bytes(), Format::Toml, &files)?)
}

/// The demo: what runs and what is refused.
fn demo() -> Result<()> {
    let key = SecretKey::generate(KeyAlgorithm::Ed25519, &mut OsRng);
    let other = SecretKey::generate(KeyAlgorithm::Ed25519, &mut OsRng);
    let policy = policy_for(&key)?;
    let engine = Engine::default();
    let loader = Loader::new(&engine, &policy);

    let signed = wsc_core::sign(HELLO, &key)?;
    let mut tampered = signed.clone();
    let at = tampered.windows(5).position(|w| w == b"hello").context("the text")?;
    tampered[at] = b'j';
    let wrong = wsc_core::sign(HELLO, &other)?;

    println!("signed component ({} bytes):", signed.len());
    let verified = loader.component(&signed)?;
    println!("  verified: {}", verified.verdict().decision().as_str());
    let out = MemoryOutputPipe::new(4096);
    run(&engine, verified.value(), Some(out.clone()))?;
    let said = String::from_utf8_lossy(&out.contents()).into_owned();
    print!("  it ran and wrote: {said}");
    if said != HELLO_TEXT {
        bail!("the component wrote {said:?}");
    }

    for (name, bytes) in [("unsigned", HELLO.to_vec()), ("tampered", tampered), ("signed by another key", wrong)] {
        match loader.component(&bytes) {
            Ok(_) => bail!("the {name} component was admitted"),
            Err(e) => println!("{name} component: refused before compiling: {}", wsc_core::Chain(&e)),
        }
    }

    // Precompiled: the artifact and its seal, loaded without compiling.
    let seal_key = SealKey::generate();
    let pre = loader.precompile(&signed, &seal_key)?.into_inner();
    println!("precompiled: {} bytes of native code, seal:\n{}", pre.cwasm.len(), String::from_utf8_lossy(&pre.seal));
    let (component, _) = loader.deserialize_component(&pre.cwasm, &pre.seal, &seal_key)?;
    let out = MemoryOutputPipe::new(4096);
    run(&engine, &component, Some(out.clone()))?;
    println!("  the sealed artifact ran and wrote: {}", String::from_utf8_lossy(&out.contents()).trim_end());
    let mut altered = pre.cwasm.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 1;
    match loader.deserialize_component(&altered, &pre.seal, &seal_key) {
        Ok(_) => bail!("an altered artifact was loaded"),
        Err(e) => println!("altered artifact: refused: {}", wsc_core::Chain(&e)),
    }
    println!("\ndemo: everything as expected");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo().map(|()| ExitCode::SUCCESS),
        [component, policy] => verify_and_run(Path::new(component), Path::new(policy)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}
