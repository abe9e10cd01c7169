//! Verify, then compile: WebAssembly modules and components reach
//! wasmtime only after they meet a wsc trust policy.
//!
//! A [`Loader`] holds an [`Engine`] and a [`Policy`]. Each of its methods
//! evaluates the bytes against the policy first and hands to wasmtime only
//! bytes whose verdict lets them run, and exactly those bytes: a reader is
//! read once into memory while it is verified, and the compiler gets that
//! buffer. The result is the compiled [`Module`] or [`Component`] together
//! with the [`Verdict`] ([`Verified`]); anything else is an [`Error`] and
//! nothing was compiled.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wsc_wasmtime::{Loader, wasmtime::Engine};
//!
//! let engine = Engine::default();
//! let policy = wsc_policy::load_file("policy.toml".as_ref())?;
//! let bytes = std::fs::read("plugin.wasm")?;
//! let verified = Loader::new(&engine, &policy).component(&bytes)?;
//! println!("{}", verified.verdict().to_json());
//! let component = verified.into_inner();
//! # drop(component);
//! # Ok(())
//! # }
//! ```
//!
//! Precompiled artifacts (`.cwasm`) are native code that wasmtime loads
//! without checks, so they are produced and loaded here only with a seal:
//! [`Loader::precompile`] verifies the source, compiles it and returns the
//! artifact with a seal (the artifact's, the source's and the policy's
//! SHA-256 under an HMAC key only the host holds); the `deserialize_*`
//! methods load an artifact only when its seal verifies under that key and
//! names the loader's policy. See [`SealKey`].
//!
//! A policy scope in audit mode lets a rejected module run (that is what
//! audit mode means); its verdict then says `audit_rejected`, and the
//! caller can refuse it by checking [`Verdict::decision`].
//!
//! What this crate is not: it does not configure wasmtime (the caller's
//! [`Engine`] decides the features, the fuel, the limits), does not
//! provide WASI or any other import, and does not fetch policies or
//! modules; nested signatures inside a component are not looked at (the
//! component's own signature covers its bytes).

use std::io::{self, Read};
use std::time::SystemTime;

pub use wasmtime;
use wasmtime::component::Component;
use wasmtime::{Engine, Module};
use wsc_core::format::{COMPONENT_PREAMBLE, MODULE_PREAMBLE};
use wsc_policy::{Decision, EvalError, Policy, Target, Verdict};

mod seal;

pub use seal::{Precompiled, SealError, SealKey, Unsealed};

/// Largest input read from a reader unless [`Loader::max_size`] says
/// otherwise: 256 MiB.
pub const DEFAULT_MAX_SIZE: u64 = 256 * 1024 * 1024;

/// A core module or a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A core WebAssembly module.
    Module,
    /// A component (the component model).
    Component,
}

impl Kind {
    /// `module` or `component`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Module => "module",
            Kind::Component => "component",
        }
    }

    /// The kind the 8-byte preamble of `bytes` names, if any.
    pub fn of(bytes: &[u8]) -> Option<Kind> {
        let head = bytes.get(..8)?;
        if head == MODULE_PREAMBLE {
            Some(Kind::Module)
        } else if head == COMPONENT_PREAMBLE {
            Some(Kind::Component)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why nothing was compiled or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The verification ran and the policy is not met; the verdict says
    /// why.
    #[error("the policy is not met ({})", .0.primary_reason().map_or("rejected", |r| r.as_str()))]
    Rejected(Box<Verdict>),
    /// The input could not be evaluated (it does not parse as a signed
    /// module, or a policy key is unusable).
    #[error("the input cannot be verified")]
    Evaluate(#[source] EvalError),
    /// The input does not start with the preamble of the kind asked for.
    #[error("expected a {expected}, the input starts with {found}")]
    WrongKind {
        /// What the caller asked for.
        expected: Kind,
        /// What the preamble says (`neither` if it is neither).
        found: &'static str,
    },
    /// The reader gave more than [`Loader::max_size`] bytes.
    #[error("the input is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading the input failed.
    #[error("cannot read the input")]
    Read(#[source] io::Error),
    /// wasmtime refused the verified bytes (invalid WebAssembly, or a
    /// feature the engine does not enable).
    #[error("wasmtime cannot compile the verified {kind}")]
    Compile {
        /// What was compiled.
        kind: Kind,
        /// wasmtime's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A precompiled artifact's seal is missing its mark, altered, or for
    /// another policy, artifact or kind.
    #[error("the precompiled artifact is not sealed for this loader")]
    Seal(#[from] SealError),
    /// wasmtime refused a sealed artifact (another wasmtime version or
    /// engine configuration).
    #[error("wasmtime cannot load the sealed {kind} artifact")]
    Deserialize {
        /// What was loaded.
        kind: Kind,
        /// wasmtime's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A compiled module or component, and the verdict that let it through.
#[derive(Debug)]
#[must_use = "a verified module is meant to be run"]
pub struct Verified<T> {
    value: T,
    verdict: Verdict,
}

impl<T> Verified<T> {
    /// The compiled value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The verdict: `accepted`, or `audit_rejected` under an audit-mode
    /// scope.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The compiled value, without the verdict.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The compiled value and the verdict.
    pub fn into_parts(self) -> (T, Verdict) {
        (self.value, self.verdict)
    }
}

/// Bytes whose verdict lets them run: the only input of the compiling
/// functions below.
struct Admitted<'b> {
    bytes: &'b [u8],
    kind: Kind,
    verdict: Verdict,
}

/// Verifies, then compiles, with one engine and one policy.
#[derive(Debug, Clone)]
pub struct Loader<'a> {
    engine: &'a Engine,
    policy: &'a Policy,
    target: Target<'a>,
    now: Option<SystemTime>,
    max_size: u64,
}

impl<'a> Loader<'a> {
    /// A loader for `engine` that admits what `policy` admits, for a
    /// module known by no path (only the policy's `[default]` applies; see
    /// [`Loader::target`]), at the current time.
    pub fn new(engine: &'a Engine, policy: &'a Policy) -> Self {
        Loader { engine, policy, target: Target::unnamed(), now: None, max_size: DEFAULT_MAX_SIZE }
    }

    /// The path or OCI repository the policy's scopes match.
    pub fn target(mut self, target: Target<'a>) -> Self {
        self.target = target;
        self
    }

    /// Evaluates at `now` instead of the current time.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// Reads at most `limit` bytes from a reader.
    pub fn max_size(mut self, limit: u64) -> Self {
        self.max_size = limit;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &'a Engine {
        self.engine
    }

    /// The policy.
    pub fn policy(&self) -> &'a Policy {
        self.policy
    }

    /// Verifies `bytes` as a core module, then compiles them.
    pub fn module(&self, bytes: &[u8]) -> Result<Verified<Module>, Error> {
        compile_module(self.engine, self.admit(bytes, Some(Kind::Module))?)
    }

    /// Verifies `bytes` as a component, then compiles them.
    pub fn component(&self, bytes: &[u8]) -> Result<Verified<Component>, Error> {
        compile_component(self.engine, self.admit(bytes, Some(Kind::Component))?)
    }

    /// Reads a core module once, verifying it as it arrives, then compiles
    /// the bytes read.
    pub fn module_from_reader(&self, reader: impl Read + Send) -> Result<Verified<Module>, Error> {
        let (bytes, verdict) = self.read_verified(reader)?;
        compile_module(self.engine, self.admit_evaluated(&bytes, Some(Kind::Module), verdict)?)
    }

    /// Reads a component once, verifying it as it arrives, then compiles
    /// the bytes read.
    pub fn component_from_reader(&self, reader: impl Read + Send) -> Result<Verified<Component>, Error> {
        let (bytes, verdict) = self.read_verified(reader)?;
        compile_component(self.engine, self.admit_evaluated(&bytes, Some(Kind::Component), verdict)?)
    }

    /// Verifies `bytes` (a module or a component, as its preamble says),
    /// compiles them to an artifact for this engine and seals it with
    /// `key`. Store both [`Precompiled`] parts; load them with
    /// [`Loader::deserialize_module`] or [`Loader::deserialize_component`].
    pub fn precompile(&self, bytes: &[u8], key: &SealKey) -> Result<Verified<Precompiled>, Error> {
        let admitted = self.admit(bytes, None)?;
        let compiled = match admitted.kind {
            Kind::Module => self.engine.precompile_module(admitted.bytes),
            Kind::Component => self.engine.precompile_component(admitted.bytes),
        }
        .map_err(|e| Error::Compile { kind: admitted.kind, source: e.into() })?;
        let now = self.now.unwrap_or_else(SystemTime::now);
        let precompiled = seal::seal(key, admitted.kind, compiled, admitted.bytes, self.policy, &admitted.verdict, now);
        Ok(Verified { value: precompiled, verdict: admitted.verdict })
    }

    /// Loads a core module artifact made by [`Loader::precompile`], if its
    /// seal verifies under `key` and names this loader's policy.
    pub fn deserialize_module(&self, cwasm: &[u8], seal: &[u8], key: &SealKey) -> Result<(Module, Unsealed), Error> {
        let unsealed = seal::open(key, Kind::Module, cwasm, seal, self.policy)?;
        Ok((sealed_module(self.engine, cwasm, &unsealed)?, unsealed))
    }

    /// Loads a component artifact made by [`Loader::precompile`], if its
    /// seal verifies under `key` and names this loader's policy.
    pub fn deserialize_component(
        &self,
        cwasm: &[u8],
        seal: &[u8],
        key: &SealKey,
    ) -> Result<(Component, Unsealed), Error> {
        let unsealed = seal::open(key, Kind::Component, cwasm, seal, self.policy)?;
        Ok((sealed_component(self.engine, cwasm, &unsealed)?, unsealed))
    }

    /// Evaluates `bytes` and keeps them only if the verdict lets them run.
    fn admit<'b>(&self, bytes: &'b [u8], want: Option<Kind>) -> Result<Admitted<'b>, Error> {
        // A wrong preamble fails before the work of verifying.
        let kind = kind_of(bytes, want)?;
        let now = self.now.unwrap_or_else(SystemTime::now);
        let verdict =
            self.policy.evaluate(bytes, Some(bytes.len() as u64), &self.target, now).map_err(Error::Evaluate)?;
        admitted(bytes, kind, verdict)
    }

    /// [`Loader::admit`] for bytes already evaluated as they were read.
    fn admit_evaluated<'b>(
        &self,
        bytes: &'b [u8],
        want: Option<Kind>,
        verdict: Verdict,
    ) -> Result<Admitted<'b>, Error> {
        let kind = kind_of(bytes, want)?;
        admitted(bytes, kind, verdict)
    }

    /// Reads all of `reader` (at most `max_size` bytes) into memory while
    /// the policy evaluates it: one pass, and the bytes kept are the bytes
    /// evaluated.
    fn read_verified(&self, reader: impl Read + Send) -> Result<(Vec<u8>, Verdict), Error> {
        let now = self.now.unwrap_or_else(SystemTime::now);
        let mut tee = Tee { inner: reader, kept: Vec::new(), limit: self.max_size, over: false, failed: None };
        let result = self.policy.evaluate(&mut tee, None, &self.target, now);
        if tee.over {
            return Err(Error::TooLarge { limit: self.max_size });
        }
        if let Some(e) = tee.failed {
            return Err(Error::Read(e));
        }
        let verdict = result.map_err(Error::Evaluate)?;
        Ok((tee.kept, verdict))
    }
}

/// The kind of `bytes`, which must be `want` when given.
fn kind_of(bytes: &[u8], want: Option<Kind>) -> Result<Kind, Error> {
    let found = Kind::of(bytes);
    match (want, found) {
        (Some(w), Some(f)) if w == f => Ok(f),
        (None, Some(f)) => Ok(f),
        (w, f) => Err(Error::WrongKind {
            expected: w.unwrap_or(Kind::Module),
            found: f.map_or("neither a module nor a component preamble", |k| match k {
                Kind::Module => "a core module preamble",
                Kind::Component => "a component preamble",
            }),
        }),
    }
}

/// Keeps `bytes` when the verdict lets them run.
fn admitted(bytes: &[u8], kind: Kind, verdict: Verdict) -> Result<Admitted<'_>, Error> {
    match verdict.decision() {
        Decision::Accepted | Decision::AuditRejected => Ok(Admitted { bytes, kind, verdict }),
        Decision::Rejected => Err(Error::Rejected(Box::new(verdict))),
    }
}

fn compile_module(engine: &Engine, admitted: Admitted<'_>) -> Result<Verified<Module>, Error> {
    let value =
        Module::new(engine, admitted.bytes).map_err(|e| Error::Compile { kind: Kind::Module, source: e.into() })?;
    Ok(Verified { value, verdict: admitted.verdict })
}

fn compile_component(engine: &Engine, admitted: Admitted<'_>) -> Result<Verified<Component>, Error> {
    let value = Component::new(engine, admitted.bytes)
        .map_err(|e| Error::Compile { kind: Kind::Component, source: e.into() })?;
    Ok(Verified { value, verdict: admitted.verdict })
}

// Why the two functions below are sound. wasmtime's `deserialize` wants
// bytes made by its own `precompile_*` or `serialize`. An `Unsealed` exists
// only when `seal::open` verified an HMAC under the host's key over the
// SHA-256 of exactly these bytes and their kind; only `Loader::precompile`
// makes such a MAC, over what `Engine::precompile_module` or
// `precompile_component` had just returned. Artifacts of another wasmtime
// version or configuration are refused by wasmtime itself.

/// Loads a module artifact whose seal was opened.
#[allow(unsafe_code)]
fn sealed_module(engine: &Engine, cwasm: &[u8], _opened: &Unsealed) -> Result<Module, Error> {
    // SAFETY: see above; `_opened` is the proof the seal was checked.
    unsafe { Module::deserialize(engine, cwasm) }
        .map_err(|e| Error::Deserialize { kind: Kind::Module, source: e.into() })
}

/// Loads a component artifact whose seal was opened.
#[allow(unsafe_code)]
fn sealed_component(engine: &Engine, cwasm: &[u8], _opened: &Unsealed) -> Result<Component, Error> {
    // SAFETY: see above; `_opened` is the proof the seal was checked.
    unsafe { Component::deserialize(engine, cwasm) }
        .map_err(|e| Error::Deserialize { kind: Kind::Component, source: e.into() })
}

/// Copies what the evaluation reads, up to a limit; remembers why it
/// stopped so the caller can say so.
struct Tee<R> {
    inner: R,
    kept: Vec<u8>,
    limit: u64,
    over: bool,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                return Err(copy);
            }
        };
        if self.kept.len() as u64 + n as u64 > self.limit {
            self.over = true;
            return Err(io::Error::other("over the size limit"));
        }
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}
