//! `wsc-sigstore-local`: runs the local Sigstore instance, or mints a token offline.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use wsc_sigstore_local::{Config, DEFAULT_IDENTITY, Instance, mint_token_offline};

/// A local Sigstore-compatible instance (OIDC issuer, Fulcio v2, Rekor v1 and v2, RFC 3161 TSA) on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "wsc-sigstore-local", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve until SIGTERM or SIGINT; prints the base URL and writes it to DIR/url.
    Serve {
        /// Folder for keys, the log and the trust files (kept across restarts).
        #[arg(long)]
        dir: PathBuf,
        /// Port on 127.0.0.1 (default: the folder's previous port if free, else any).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Serve HTTPS with a local CA written to DIR/tls-ca.pem.
        #[arg(long)]
        tls: bool,
        /// An identity the issuer serves (repeatable); one with '@' and no "://" is an email identity.
        /// Default: https://github.com/wsc-demo/app/.github/workflows/release.yml@refs/heads/main
        #[arg(long = "identity")]
        identities: Vec<String>,
        /// Also run a Rekor v2 log and name it in the signing config instead of Rekor v1.
        #[arg(long)]
        rekor_v2: bool,
    },
    /// Print an ID token signed with the issuer key in DIR (the instance need not run).
    Token {
        /// The instance's folder (it must have been started once).
        #[arg(long)]
        dir: PathBuf,
        /// The token's identity (sub, and email when it contains '@' and no "://").
        #[arg(long, default_value = DEFAULT_IDENTITY)]
        identity: String,
        /// The token's audience.
        #[arg(long, default_value = "sigstore")]
        audience: String,
        /// Lifetime in seconds; negative gives an expired token.
        #[arg(long, default_value_t = 600, allow_hyphen_values = true)]
        ttl: i64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Serve { dir, port, tls, identities, rekor_v2 } => {
            let instance = Instance::start(Config { dir: dir.clone(), identities, tls, port, rekor_v2 })
                .with_context(|| format!("starting the instance in {}", dir.display()))?;
            instance.set_request_log(true);
            println!("{}", instance.url());
            wait_for_signal()?;
            eprintln!("wsc-sigstore-local: stopping");
            instance.shutdown();
            Ok(())
        }
        Command::Token { dir, identity, audience, ttl } => {
            // The one place a token is printed, on purpose.
            println!("{}", mint_token_offline(&dir, &identity, &audience, ttl)?);
            Ok(())
        }
    }
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_signal() -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("signal runtime")?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        let t = std::pin::pin!(term.recv());
        let i = std::pin::pin!(int.recv());
        first_of(t, i).await;
        Ok(())
    })
}

/// Waits for the first of two futures.
async fn first_of<A: std::future::Future + Unpin, B: std::future::Future + Unpin>(mut a: A, mut b: B) {
    std::future::poll_fn(|cx| {
        if std::pin::Pin::new(&mut a).poll(cx).is_ready() || std::pin::Pin::new(&mut b).poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}
