//! Options that several commands take, declared once: the same flag, type,
//! value name and help everywhere. Commands flatten these structs. Where a
//! command's file means something narrower (a signed module, a CSR), the
//! command replaces only the help with `mut_arg`; the flag stays this one.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;

/// `-i FILE`: the one file a command reads.
#[derive(Debug, Args)]
pub(crate) struct Input {
    /// Module or component.
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    pub(crate) input: PathBuf,
}

/// `-o FILE`: the file a command writes.
#[derive(Debug, Args)]
pub(crate) struct Output {
    /// Output file.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub(crate) output: PathBuf,
}

/// `-o FILE` for commands that can write elsewhere instead (stdout, a folder).
#[derive(Debug, Args)]
pub(crate) struct OptionalOutput {
    /// Output file.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

/// `-S FILE`: a detached signature that the command needs.
#[derive(Debug, Args)]
pub(crate) struct SignatureFile {
    /// Detached signature file.
    #[arg(short = 'S', long = "signature-file", value_name = "FILE")]
    pub(crate) signature: PathBuf,
}

/// `-S FILE`: a detached signature instead of the embedded section.
#[derive(Debug, Args)]
pub(crate) struct OptionalSignatureFile {
    /// Detached signature file (instead of the embedded section).
    #[arg(short = 'S', long = "signature-file", value_name = "FILE")]
    pub(crate) signature: Option<PathBuf>,
}

/// `--staging`: the Sigstore staging instance.
#[derive(Debug, Args, Default, Clone, Copy)]
pub(crate) struct Staging {
    /// Use the Sigstore staging instance (default: production): its trust root
    /// (cached by `wsc trust update --staging`, else embedded) and signing config.
    #[arg(long)]
    pub(crate) staging: bool,
}

/// `--cache-dir`: where trust roots fetched through TUF are kept.
#[derive(Debug, Args)]
pub(crate) struct CacheDir {
    /// Cache directory (default: $XDG_CACHE_HOME/wsc/trust/<production|staging|tuf-SHA256>).
    #[arg(long, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
}

impl CacheDir {
    /// The directory for `domain`: the one given, else its default.
    pub(crate) fn for_domain(&self, domain: &wsc_keyless::tuf::Domain) -> Result<PathBuf> {
        match &self.cache_dir {
            Some(d) => Ok(d.clone()),
            None => wsc_keyless::tuf::default_cache_dir(domain)
                .context("no cache directory: set XDG_CACHE_HOME or HOME, or give --cache-dir"),
        }
    }
}

/// `--certificate-identity` and `--certificate-oidc-issuer`: the keyless
/// signer a certificate must name, matched exactly wherever they are taken.
#[derive(Debug, Args, Default)]
pub(crate) struct Identity {
    /// Expected certificate identity (SAN), exactly.
    #[arg(long, value_name = "ID")]
    pub(crate) certificate_identity: Option<String>,
    /// Expected OIDC issuer (Fulcio issuer extension), exactly.
    #[arg(long, value_name = "URL")]
    pub(crate) certificate_oidc_issuer: Option<String>,
}

impl Identity {
    /// `--certificate-identity`, checked as a trust policy checks `identity`:
    /// non-empty, without spaces around it (an exact match could never hold).
    pub(crate) fn identity(&self) -> Result<Option<&str>> {
        self.certificate_identity.as_deref().map(|id| checked("--certificate-identity", id, false)).transpose()
    }

    /// `--certificate-oidc-issuer`, checked as a trust policy checks `issuer`:
    /// non-empty, without spaces around it or `|`.
    pub(crate) fn issuer(&self) -> Result<Option<&str>> {
        self.certificate_oidc_issuer.as_deref().map(|iss| checked("--certificate-oidc-issuer", iss, true)).transpose()
    }
}

fn checked<'a>(flag: &str, value: &'a str, no_bar: bool) -> Result<&'a str> {
    if value.is_empty() || value.trim() != value || (no_bar && value.contains('|')) {
        let bar = if no_bar { " or `|`" } else { "" };
        bail!("{flag} {value:?}: give a non-empty value without spaces around it{bar} (it is matched exactly)");
    }
    Ok(value)
}

/// `--tsa-chain`: the timestamp authorities trusted for RFC 3161 tokens.
#[derive(Debug, Args, Default)]
pub(crate) struct TsaChains {
    /// A trusted timestamp authority's chain (PEM, TSA certificate first, root last); repeatable.
    #[arg(long = "tsa-chain", value_name = "PEM")]
    pub(crate) tsa_chain: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        identity: super::Identity,
    }

    #[test]
    fn identities_that_cannot_match_exactly_are_refused() {
        let parse = |args: &[&str]| Probe::try_parse_from([&["probe"], args].concat()).expect("parses");
        Probe::command().debug_assert();
        for bad in ["", " me@example.com", "me@example.com "] {
            let p = parse(&["--certificate-identity", bad]);
            let e = p.identity.identity().expect_err("refused");
            assert!(e.to_string().contains("--certificate-identity"), "{e}");
        }
        let p = parse(&["--certificate-identity", "me@example.com", "--certificate-oidc-issuer", "https://a|b"]);
        assert_eq!(p.identity.identity().expect("fine"), Some("me@example.com"));
        assert!(p.identity.issuer().is_err(), "`|` in an issuer is refused");
        assert_eq!(parse(&[]).identity.identity().expect("none"), None);
    }
}
