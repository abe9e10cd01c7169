//! `wsc sign --keyless` and `wsc sigstore sign-bundle`: the Sigstore
//! signing flow from wsc-keyless, with the CLI's token sources and network
//! options.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use wsc_keyless::sign::{
    BrowserLogin, IdentityToken, KeylessSigner, RetryPolicy, ServiceOptions, Services, TokenOrigin, ambient_token,
    browser_login, token_from_file,
};
use wsc_keyless::sigstore_verify::trust_root::{
    SIGSTORE_PRODUCTION_SIGNING_CONFIG, SIGSTORE_STAGING_SIGNING_CONFIG, SigningConfig, TrustedRoot,
};

use crate::files;
use crate::keyless::RootArgs;
use crate::net::NetArgs;

/// Where the token and the services come from.
#[derive(Debug, Args, Default)]
pub(crate) struct ServiceArgs {
    /// The OIDC identity token (else SIGSTORE_ID_TOKEN, a CI provider, or a browser login).
    #[arg(long, value_name = "TOKEN", conflicts_with = "identity_token_file")]
    pub(crate) identity_token: Option<String>,
    /// Read the identity token from this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) identity_token_file: Option<PathBuf>,
    /// Sigstore signing config v0.2 naming the Fulcio, Rekor and TSA URLs (default: the instance's own).
    #[arg(long, value_name = "FILE")]
    pub(crate) signing_config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) root: RootArgs,
    /// Do not ask the signing config's timestamp authority for an RFC 3161 timestamp.
    #[arg(long)]
    pub(crate) no_tsa: bool,
    /// Log in with a browser even when not on a terminal.
    #[arg(long)]
    pub(crate) browser: bool,
    /// OIDC issuer for the browser login (default: the public-good Sigstore issuer).
    #[arg(long, value_name = "URL")]
    pub(crate) oidc_issuer: Option<String>,
    /// OAuth client id for the browser login.
    #[arg(long, value_name = "ID", default_value = "sigstore")]
    pub(crate) oidc_client_id: String,
    /// At most this many requests per second to each service (batch signing).
    #[arg(long, value_name = "N")]
    pub(crate) rate_limit: Option<f64>,
    /// Attempts per request (retries on 429, 5xx and connection errors).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) attempts: u32,
}

impl ServiceArgs {
    fn options(&self) -> ServiceOptions {
        ServiceOptions {
            retry: RetryPolicy { attempts: self.attempts.max(1), ..RetryPolicy::default() },
            rate_limit_per_second: self.rate_limit,
        }
    }

    fn signing_config(&self) -> Result<SigningConfig> {
        let (json, name) = match &self.signing_config {
            Some(p) => {
                let bytes = files::read_small(p, 1024 * 1024, "signing config")?;
                (String::from_utf8(bytes).context("the signing config is not UTF-8")?, p.display().to_string())
            }
            None if self.root.instance.staging => {
                (SIGSTORE_STAGING_SIGNING_CONFIG.to_string(), "staging (embedded)".into())
            }
            None => (SIGSTORE_PRODUCTION_SIGNING_CONFIG.to_string(), "production (embedded)".into()),
        };
        SigningConfig::from_json(&json).with_context(|| format!("signing config {name}"))
    }

    /// The token: explicit, from a file, ambient (CI), or a browser login.
    fn token(&self, builder: &wsc_pinning::ClientBuilder, options: &ServiceOptions) -> Result<IdentityToken> {
        let (token, origin) = if let Some(t) = &self.identity_token {
            (IdentityToken::new(t.clone())?, TokenOrigin::Explicit)
        } else if let Some(p) = &self.identity_token_file {
            (token_from_file(p)?, TokenOrigin::Explicit)
        } else if let Some(found) = (!self.browser && self.oidc_issuer.is_none())
            .then(|| ambient_token(&|k| std::env::var(k).ok(), builder, options))
            .transpose()?
            .flatten()
        {
            // --browser and --oidc-issuer ask for an interactive login: the
            // environment's tokens are not looked at then.
            found
        } else if self.browser || self.oidc_issuer.is_some() || std::io::stdin().is_terminal() {
            let mut login = BrowserLogin::public_good();
            if let Some(i) = &self.oidc_issuer {
                login.issuer = i.clone();
            }
            login.client_id = self.oidc_client_id.clone();
            login.timeout = Duration::from_secs(300);
            let token = browser_login(&login, builder, options, &mut |url| {
                eprintln!("Open this URL in a browser to log in:\n\n  {url}\n");
                let _ = std::process::Command::new("xdg-open")
                    .arg(url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            })?;
            (token, TokenOrigin::Browser)
        } else {
            bail!(
                "no identity token: give --identity-token or --identity-token-file, set SIGSTORE_ID_TOKEN, \
                 run in a CI job with OIDC (GitHub Actions `id-token: write`, GitLab `id_tokens`, Buildkite, \
                 CircleCI, Google Cloud), or log in with --browser"
            );
        };
        let c = token.claims();
        eprintln!("keyless: identity token from {origin} (issuer {}, subject {})", c.issuer, c.subject);
        Ok(token)
    }

    /// The services of the signing config and the trust root, for signing
    /// with a certificate (keyless) or a managed key.
    pub(crate) fn services(&self, net: &NetArgs) -> Result<(Services, TrustedRoot)> {
        let root = self.root.load()?;
        let config = self.signing_config()?;
        let builder = net.builder()?;
        let options = self.options();
        for (what, url) in [
            ("Fulcio", config.fulcio_url().map(|s| s.url.as_str())),
            ("Rekor", config.rekor_url(None).map(|s| s.url.as_str())),
        ] {
            if let Some(u) = url {
                net.check_scheme(what, u)?;
            }
        }
        let services = Services::from_signing_config(&config, &builder, &options, !self.no_tsa)?;
        let (f, r, t) = services.urls();
        eprintln!("sigstore: Fulcio {f}, Rekor v{} {r}, timestamps {}", services.rekor_version(), t.unwrap_or("none"));
        Ok((services, root))
    }

    /// Whether any option of keyless signing was given.
    pub(crate) fn any_given(&self) -> bool {
        self.identity_token.is_some()
            || self.identity_token_file.is_some()
            || self.signing_config.is_some()
            || self.root.trusted_root.is_some()
            || self.root.instance.staging
            || self.no_tsa
            || self.browser
            || self.oidc_issuer.is_some()
            || self.rate_limit.is_some()
    }

    /// Gets the certificate and returns the signer for this run.
    pub(crate) fn signer(&self, net: &NetArgs) -> Result<KeylessSigner> {
        let (services, root) = self.services(net)?;
        let (builder, options) = (net.builder()?, self.options());
        let token = self.token(&builder, &options)?;
        let signer = KeylessSigner::new(token, services, &root)?;
        eprintln!("keyless: certificate for {} (issuer {})", signer.identity(), signer.issuer());
        Ok(signer)
    }
}
