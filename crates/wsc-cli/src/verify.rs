//! `wsc verify` and `wsc verify_matrix`.

use std::path::PathBuf;

use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Args;
use wsc_core::PublicKey;

use crate::Outcome;
use crate::args::{Input, OptionalSignatureFile, TsaChains};
use crate::keyless::KeylessArgs;
use crate::policy_verify::{FlagsOutput, Trust};
use crate::shorthand;

#[derive(Debug, Args)]
#[command(mut_arg("public_key", TrustArgs::required))]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    input: Input,
    #[command(flatten)]
    trust: TrustArgs,
    /// The module's path as the policy's scopes name it (default: the -i path as given,
    /// without leading `./`).
    #[arg(long, value_name = "NAME", requires = "policy")]
    pub(crate) path: Option<String>,
    /// The OCI repository the module comes from (exact, no tag or digest).
    #[arg(long = "oci-repository", value_name = "REPO", requires = "policy")]
    pub(crate) oci_repository: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// What the embedded signatures must meet: a trust policy, or the flags
/// that make one in memory (shorthand.rs). `wsc verify` and `wsc oci` take
/// the same options; a command that needs one says so with
/// [`TrustArgs::required`].
#[derive(Debug, Args)]
pub(crate) struct TrustArgs {
    /// Public key (wasmsign2 raw, SPKI DER/PEM, SEC1 or OpenSSH).
    #[arg(
        short = 'K',
        long = "public-key",
        value_name = "FILE",
        conflicts_with_all = ["keyless", "trust_anchor"]
    )]
    public_key: Option<PathBuf>,
    /// Decide with a trust policy (wsc-policy/v1, TOML or JSON): the scope for this module,
    /// its rule, coverage, time and revocation. Exit 0 accepted (or audit), 1 rejected.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["public_key", "keyless", "trust_anchor", "split", "ssh"]
    )]
    pub(crate) policy: Option<PathBuf>,
    /// Verify keyless (Sigstore) records against an identity policy, offline.
    #[arg(long)]
    keyless: bool,
    #[command(flatten)]
    keyless_args: KeylessArgs,
    #[command(flatten)]
    cert_args: CertArgs,
}

impl TrustArgs {
    /// For `mut_arg("public_key", …)`: -K unless another way is given.
    pub(crate) fn required(a: clap::Arg) -> clap::Arg {
        a.required_unless_present_any(["keyless", "trust_anchor", "policy"])
    }

    /// The time to decide at: --at-time when given, else now.
    pub(crate) fn now(&self) -> Result<SystemTime> {
        let c = &self.cert_args;
        if c.at_time.is_some() && self.policy.is_none() && c.trust_anchor.is_empty() {
            anyhow::bail!("--at-time needs --trust-anchor or --policy");
        }
        match &c.at_time {
            Some(t) => wsc_pki::parse_rfc3339(t).with_context(|| format!("--at-time '{t}'")),
            None => Ok(SystemTime::now()),
        }
    }

    /// Whether any way of judging signatures is given.
    pub(crate) fn given(&self) -> bool {
        self.policy.is_some() || self.public_key.is_some() || self.keyless || !self.cert_args.trust_anchor.is_empty()
    }

    /// The flags' policy (not for --policy).
    fn flags(&self, options: &FlagOptions) -> Result<shorthand::Flags> {
        let c = &self.cert_args;
        let split = options.split.as_deref();
        match &self.public_key {
            Some(p) => shorthand::keys(&load_keys(std::slice::from_ref(p), options.ssh)?, split, options.nested),
            None if !c.trust_anchor.is_empty() => shorthand::x509(
                &shorthand::CertFlags {
                    anchors: &c.trust_anchor,
                    require_all: c.require_all_anchors,
                    crls: &c.crl,
                    require_crl: c.require_crl,
                    tsa_chains: &c.tsa.tsa_chain,
                    use_timestamp: c.use_timestamp,
                },
                split,
                options.nested,
            ),
            None => shorthand::keyless(&self.keyless_args, split, options.nested),
        }
    }

    /// The policy to decide with: the --policy file loaded, or the flags'.
    pub(crate) fn trust(&self, options: &FlagOptions) -> Result<Trust> {
        match &self.policy {
            Some(file) => {
                let policy = wsc_policy::load_file(file).with_context(|| format!("policy '{}'", file.display()))?;
                Ok(Trust::Policy { file: file.clone(), policy })
            }
            None => Ok(Trust::Flags(self.flags(options)?)),
        }
    }
}

/// Certificate-bound records (wsc-pki): trust anchors and revocation.
#[derive(Debug, Args)]
#[command(mut_arg("tsa_chain", |a| a.requires("use_timestamp")))]
struct CertArgs {
    /// Trust anchor certificate file (PEM or DER) holding exactly one certificate; repeatable.
    #[arg(long = "trust-anchor", value_name = "PEM", conflicts_with = "keyless")]
    trust_anchor: Vec<PathBuf>,
    /// Every --trust-anchor file must have a valid signature of its own, each from a different
    /// signer key (vendor and integrator); the same anchor in two files is refused.
    #[arg(long, requires = "trust_anchor")]
    require_all_anchors: bool,
    /// CRL (PEM or DER) of a CA on the path; repeatable.
    #[arg(long = "crl", value_name = "FILE", requires = "trust_anchor")]
    crl: Vec<PathBuf>,
    /// Decide at this time (RFC 3339) instead of now: certificates, CRLs, `valid_until` and
    /// `max_age` (with --trust-anchor or --policy).
    #[arg(long = "at-time", value_name = "TIME", conflicts_with = "use_timestamp")]
    at_time: Option<String>,
    /// Check certificates at the time of the record's RFC 3161 timestamp, which must verify
    /// with a --tsa-chain (records without one fail).
    #[arg(long, requires_all = ["trust_anchor", "tsa_chain"])]
    use_timestamp: bool,
    #[command(flatten)]
    tsa: TsaChains,
    /// Every CA on the path must have a current CRL among the --crl files.
    #[arg(long, requires = "trust_anchor")]
    require_crl: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {
    #[command(flatten)]
    input: Input,
    /// Public keys; each is reported on its own.
    #[arg(short = 'K', long = "public-keys", value_name = "FILE", num_args = 1.., required_unless_present = "policy")]
    public_keys: Vec<PathBuf>,
    /// Evaluate a trust policy and report each principal its scope reaches.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["public_keys", "split", "ssh"])]
    policy: Option<PathBuf>,
    /// The module's path as the policy's scopes name it (default: the -i path).
    #[arg(long, value_name = "NAME", requires = "policy")]
    path: Option<String>,
    /// The OCI repository the module comes from.
    #[arg(long = "oci-repository", value_name = "REPO", requires = "policy")]
    oci_repository: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct Common {
    #[command(flatten)]
    signature: OptionalSignatureFile,
    #[command(flatten)]
    flag_options: FlagOptions,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// How the key flags are read: coverage and key file format.
#[derive(Debug, Args)]
pub(crate) struct FlagOptions {
    /// Partial verification: all standard sections plus the custom sections
    /// whose name matches REGEX must be signed; other parts may be unsigned.
    #[arg(short = 's', long = "split", value_name = "REGEX")]
    split: Option<String>,
    /// Keys are OpenSSH public-key files (every key line is used).
    #[arg(short = 'Z', long = "ssh")]
    ssh: bool,
    /// Also verify the nested parts of a component: with --policy, against the part rules
    /// of its scope; with -K/--keyless/--trust-anchor, every part that carries signatures
    /// must meet the same check. Lists every part with its digest and signers.
    #[arg(long)]
    pub(crate) nested: bool,
}

pub(crate) fn run(a: &VerifyArgs) -> Result<Outcome> {
    // Checked here too: clap's `requires` does not hold beside -K.
    if a.trust.policy.is_none() && (a.path.is_some() || a.oci_repository.is_some()) {
        anyhow::bail!("--path and --oci-repository name a module for --policy, and --policy is not given");
    }
    let now = a.trust.now()?;
    if let Some(policy) = &a.trust.policy {
        let named = crate::policy_verify::Named {
            path: a.path.as_deref(),
            oci_repository: a.oci_repository.as_deref(),
            nested: a.common.flag_options.nested,
        };
        return crate::policy_verify::run(
            &a.input.input,
            a.common.signature.signature.as_deref(),
            policy,
            named,
            now,
            a.common.json,
        );
    }
    let flags = a.trust.flags(&a.common.flag_options)?;
    crate::policy_verify::run_flags(
        &a.input.input,
        a.common.signature.signature.as_deref(),
        &flags,
        now,
        a.common.json,
        FlagsOutput::Verify,
    )
}

pub(crate) fn run_matrix(a: &MatrixArgs) -> Result<Outcome> {
    if a.policy.is_none() && (a.path.is_some() || a.oci_repository.is_some()) {
        anyhow::bail!("--path and --oci-repository name a module for --policy, and --policy is not given");
    }
    if let Some(policy) = &a.policy {
        let named = crate::policy_verify::Named {
            path: a.path.as_deref(),
            oci_repository: a.oci_repository.as_deref(),
            nested: a.common.flag_options.nested,
        };
        return crate::policy_verify::run_matrix(
            &a.input.input,
            a.common.signature.signature.as_deref(),
            policy,
            named,
            SystemTime::now(),
            a.common.json,
        );
    }
    let options = &a.common.flag_options;
    let flags = shorthand::keys(&load_keys(&a.public_keys, options.ssh)?, options.split.as_deref(), options.nested)?;
    crate::policy_verify::run_flags(
        &a.input.input,
        a.common.signature.signature.as_deref(),
        &flags,
        SystemTime::now(),
        a.common.json,
        FlagsOutput::Matrix,
    )
}

fn load_keys(paths: &[PathBuf], ssh: bool) -> Result<Vec<(PathBuf, PublicKey)>> {
    let mut keys = Vec::new();
    for p in paths {
        let loaded = crate::keys::load_public(p, ssh)?;
        let take = if ssh { loaded.len() } else { 1 };
        keys.extend(loaded.into_iter().take(take).map(|key| (p.clone(), key)));
    }
    Ok(keys)
}
