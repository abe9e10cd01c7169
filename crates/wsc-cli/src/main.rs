//! The `wsc` command: argument parsing, files, terminal output and exit
//! codes. Every format and crypto decision lives in wsc-core.
//!
//! Exit codes: 0 done or verified; 1 verification ran and failed; 2 usage
//! error or unreadable input (files, keys, malformed modules).

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod args;
mod audit;
mod demo;
mod files;
mod hardware;
#[cfg(feature = "atecc")]
mod hsm;
mod keyless;
mod keyless_sign;
mod keys;
mod net;
mod oci;
mod ops;
mod pins;
mod pki;
mod policy;
mod policy_verify;
mod progress;
mod shorthand;
mod show;
mod sign;
mod trust;
mod verify;

/// Sign and verify WebAssembly modules and components.
#[derive(Debug, Parser)]
#[command(name = "wsc", version = version(), about, long_about = None, disable_help_subcommand = true)]
struct Cli {
    /// Append a JSON line per signing and verification to FILE (no secrets).
    #[arg(long, global = true, value_name = "FILE")]
    audit_log: Option<std::path::PathBuf>,
    /// No progress bars (they are shown only on a terminal, and never with --json).
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a key pair.
    Keygen(keys::KeygenArgs),
    /// Sign a module (embedded, or detached with -S).
    Sign(sign::SignArgs),
    /// Verify a module with one public key.
    Verify(Box<verify::VerifyArgs>),
    /// Verify a module with several public keys at once.
    #[command(name = "verify_matrix", visible_alias = "verify-matrix")]
    VerifyMatrix(verify::MatrixArgs),
    /// Remove the signature section into a detached signature file.
    Detach(ops::DetachArgs),
    /// Embed a detached signature file as the signature section.
    Attach(ops::AttachArgs),
    /// Add delimiters so that parts can be verified separately or sections appended.
    Split(ops::SplitArgs),
    /// List the sections and the signature section, verifying nothing.
    Show(show::ShowArgs),
    /// Make keys, sign a bundled module, verify it, and show a tampered copy rejected.
    Demo(demo::DemoArgs),
    /// Sigstore bundle interop: the message to sign, attach, export.
    #[command(subcommand)]
    Bundle(keyless::BundleCommand),
    /// The Sigstore conformance protocol (plain bundles).
    #[command(subcommand)]
    Sigstore(keyless::SigstoreCommand),
    /// Private CA for device fleets: CAs, CSRs, device certificates, CRLs.
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Secure elements: the ATECC608 on Linux I2C.
    #[cfg(feature = "atecc")]
    #[command(subcommand)]
    Hsm(hsm::HsmCommand),
    /// TLS certificate pins for the HTTPS services wsc talks to.
    #[command(subcommand)]
    Pins(pins::PinsCommand),
    /// The Sigstore trust root: update it through TUF, show which one is used.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Trust policies: check one, convert it between TOML and JSON, start one.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// OCI registries: push, pull and verify modules as wasm OCI artifacts; sign, attach and list Sigstore referrers.
    #[command(subcommand)]
    Oci(oci::OciCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page, wsc(1), in roff (`wsc man | man -l -`).
    Man,
}

/// The version, and the optional features built in.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let built: Vec<&str> = [("pkcs11", cfg!(feature = "pkcs11")), ("atecc", cfg!(feature = "atecc"))]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect();
        let features = if built.is_empty() { "none".to_string() } else { built.join(", ") };
        format!("{} (features: {features})", env!("CARGO_PKG_VERSION"))
    })
}

/// What a command reports besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    VerificationFailed,
}

fn main() -> ExitCode {
    // Before any thread starts (see files::init).
    files::init();
    let cli = Cli::parse();
    progress::set_quiet(cli.quiet);
    let result = match &cli.audit_log {
        // Scoped to this command: the process-wide default subscriber is untouched.
        Some(path) => match audit::AuditLog::open(path) {
            Ok(log) => tracing::subscriber::with_default(log, || dispatch(cli.command)),
            Err(e) => Err(e),
        },
        None => dispatch(cli.command),
    };
    finish(result)
}

fn dispatch(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Keygen(a) => keys::keygen(&a),
        Command::Sign(a) => sign::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::VerifyMatrix(a) => verify::run_matrix(&a),
        Command::Detach(a) => ops::detach(&a),
        Command::Attach(a) => ops::attach(&a),
        Command::Split(a) => ops::split(&a),
        Command::Show(a) => show::run(&a),
        Command::Demo(a) => demo::run(&a),
        Command::Pins(c) => pins::run(&c),
        Command::Trust(c) => trust::run(&c),
        Command::Pki(c) => pki::run(&c),
        Command::Policy(c) => policy::run(&c),
        Command::Oci(c) => oci::run(&c),
        #[cfg(feature = "atecc")]
        Command::Hsm(c) => hsm::run(&c),
        Command::Bundle(c) => keyless::bundle(&c),
        Command::Sigstore(c) => keyless::sigstore(&c),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wsc", &mut std::io::stdout());
            Ok(Outcome::Done)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(Outcome::Done)
        }
    }
}

fn finish(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::VerificationFailed) => ExitCode::from(1),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            // Messages quote signer URIs only redacted; this catches any other path.
            eprintln!("error: {}", hardware::redact_message(&format!("{e:#}")));
            let verification = e
                .chain()
                .any(|c| c.downcast_ref::<wsc_core::Error>().is_some_and(wsc_core::Error::is_verification_failure));
            ExitCode::from(if verification { 1 } else { 2 })
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    /// The clap tree is consistent: every flag a `mut_arg`, `requires` or
    /// `conflicts_with` names exists, and no two flags collide.
    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
