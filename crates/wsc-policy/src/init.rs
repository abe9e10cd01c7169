//! A commented starter policy from given keys, a keyless identity and
//! trust anchors (`wsc policy init`).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use wsc_core::PublicKey;

use crate::value::toml_string;

/// What a starter policy trusts. Every principal it lists is required
/// (`all`); the comments show `any` and `threshold`.
#[derive(Debug, Default)]
pub struct Starter {
    keys: Vec<(String, PublicKey)>,
    keyless: Option<(String, String)>,
    anchors: Vec<String>,
}

/// A comment line from text that may hold anything: no line breaks or
/// other control characters get through.
fn comment_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

impl Starter {
    /// Nothing yet.
    pub fn new() -> Self {
        Starter::default()
    }

    /// Adds a key read from `bytes` (any format wsc reads; an OpenSSH file
    /// must hold one key); `source` names it in a comment.
    pub fn key(&mut self, source: &str, bytes: &[u8]) -> Result<&mut Self, wsc_core::KeyError> {
        let key = crate::load::parse_public_key(bytes)?;
        self.keys.push((source.to_string(), key));
        Ok(self)
    }

    /// Sets the keyless principal: this exact identity from this exact issuer.
    pub fn keyless(&mut self, identity: &str, issuer: &str) -> &mut Self {
        self.keyless = Some((identity.to_string(), issuer.to_string()));
        self
    }

    /// Adds a trust anchor file, named as the policy will name it
    /// (relative to the policy's directory, or absolute).
    pub fn anchor(&mut self, file: &str) -> &mut Self {
        self.anchors.push(file.to_string());
        self
    }

    /// Whether no principal was given.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.keyless.is_none() && self.anchors.is_empty()
    }

    /// The policy text (TOML). Load it to check it: keys given twice,
    /// for instance, make it fail with `duplicate_key`.
    pub fn to_toml(&self) -> Result<String, wsc_core::KeyError> {
        let mut out = String::new();
        let mut names = Vec::new();
        out.push_str(
            "# wsc trust policy (docs/policy.md). Check it with `wsc policy check FILE`.\n\
             # Unknown fields, a key named twice, weak identity regexes and impossible\n\
             # rules are errors, never ignored.\n\
             schema = \"wsc-policy/v1\"\n\
             \n\
             # Signers listed here never count, whatever the rules say:\n\
             # revoked = [\"key:sha256:<hex>\", \"keyless:<issuer>|<identity>\"]\n",
        );
        for (i, (source, key)) in self.keys.iter().enumerate() {
            let name = format!("key-{}", i + 1);
            let spki = key.to_der()?;
            let fingerprint = wsc_core::keys::hex(&Sha256::digest(&spki));
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spki);
            let _ = write!(
                out,
                "\n# From {}: key:sha256:{fingerprint}\n[principals.{name}]\nkind = \"key\"\nalgorithm = \"{}\"\nspki = \"{b64}\"\n# valid_until = 2030-01-01T00:00:00Z\n",
                comment_text(source),
                key.algorithm().as_str(),
            );
            names.push(name);
        }
        if let Some((identity, issuer)) = &self.keyless {
            let _ = write!(
                out,
                "\n# Sigstore keyless: this exact identity, from this exact issuer.\n[principals.ci]\nkind = \"keyless\"\nissuer = {}\nidentity = {}\ntrust_root = \"embedded:production\"\n# github = {{ repository = \"owner/name\", ref = \"refs/heads/main\", trigger = \"push\" }}\n",
                toml_string(issuer),
                toml_string(identity),
            );
            names.push("ci".to_string());
        }
        for (i, file) in self.anchors.iter().enumerate() {
            let name = format!("devices-{}", i + 1);
            let _ = write!(
                out,
                "\n# Certificates chaining to this trust anchor (wsc pki).\n[principals.{name}]\nkind = \"x509\"\nanchors = [{}]\n# device_id_regex = 'gw-[0-9]{{4}}'\n# crls = [\"issuing.crl\"]\n# require_crl = true\n",
                toml_string(file),
            );
            names.push(name);
        }
        let list = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        let _ = write!(
            out,
            "\n# Every principal above must sign, each a distinct signer. Instead:\n\
             #   any = [\"a\", \"b\"]                            one of them\n\
             #   threshold = {{ k = 2, of = [\"a\", \"b\", \"c\"] }}  two distinct signers of three\n\
             [rules.release]\nall = [{list}]\n\
             \n\
             # Scopes choose the rule per module: an exact OCI repository, then an\n\
             # exact path, then the most specific path glob (`*` never crosses `/`).\n\
             # [[scopes]]\n\
             # name = \"plugins\"\n\
             # match = {{ path_glob = \"plugins/*.wasm\" }}\n\
             # rule = \"release\"\n\
             # coverage = {{ kind = \"sections\", standard = \"required\", custom = 'component-type:.*' }}\n\
             # mode = \"audit\"   # accepted with a loud warning; never on [default]\n\
             \n\
             # Every module no scope names.\n\
             [default]\nrule = \"release\"\ncoverage = {{ kind = \"whole\" }}\nmode = \"enforce\"\n",
        );
        Ok(out)
    }
}
