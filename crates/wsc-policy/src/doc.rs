//! The policy as written: the serde shape of `wsc-policy/v1`.
//!
//! Every struct denies unknown fields and none uses `flatten` (which
//! silently turns `deny_unknown_fields` off, serde#2283). A principal's
//! `kind` is read by hand and the rest of its table deserialized into the
//! struct of that kind: serde's internally tagged enums buffer the table
//! first and would lose the path of an error inside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::de::from_value;
use crate::error::{ErrorCode, PolicyError};
use crate::time::{Age, Timestamp};
use crate::value::{Path, Value};

/// A whole policy file, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Document {
    pub(crate) schema: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) revoked: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) principals: BTreeMap<String, PrincipalDoc>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) rules: BTreeMap<String, RuleDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) scopes: Vec<ScopeDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) default: Option<DefaultDoc>,
}

/// The top level; `principals` is read separately (see the module doc).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopDoc {
    schema: String,
    #[serde(default)]
    revoked: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    principals: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    rules: BTreeMap<String, RuleDoc>,
    #[serde(default)]
    scopes: Vec<ScopeDoc>,
    #[serde(default)]
    default: Option<DefaultDoc>,
}

/// A principal: one party that may sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum PrincipalDoc {
    Key(KeyDoc),
    Keyless(KeylessDoc),
    X509(X509Doc),
    Attestation(AttestationDoc),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttestationDoc {
    pub(crate) predicate_type: String,
    pub(crate) signer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) allow_no_tlog: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trust_root: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AlgorithmDoc {
    Ed25519,
    P256,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyDoc {
    pub(crate) algorithm: AlgorithmDoc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spki: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) valid_until: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeylessDoc {
    pub(crate) issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) identity_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trust_root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) github: Option<GithubDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GithubDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) repository: Option<String>,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub(crate) git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) runner: Option<RunnerDoc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RunnerDoc {
    GithubHosted,
    SelfHosted,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct X509Doc {
    pub(crate) anchors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) device_id_regex: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) subject: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) crls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) require_crl: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time: Option<TimeDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tsa_chains: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<Age>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TimeDoc {
    Now,
    Timestamp,
}

/// Exactly one of the three is meant to be given (checked after parsing,
/// with the path).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) all: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) any: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) threshold: Option<ThresholdDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThresholdDoc {
    /// Signed, so that `k = 0` and `k = -1` reach the rule check and get
    /// `invalid_rule` rather than a type error.
    pub(crate) k: i64,
    pub(crate) of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeDoc {
    pub(crate) name: String,
    #[serde(rename = "match")]
    pub(crate) matcher: MatchDoc,
    pub(crate) rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) coverage: Option<CoverageDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<ModeDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) parts: Vec<PartDoc>,
}

/// What a scope requires of a component's nested parts of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartDoc {
    pub(crate) kind: PartKindDoc,
    pub(crate) rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unsigned: Option<UnsignedDoc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PartKindDoc {
    Module,
    Component,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum UnsignedDoc {
    Allow,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) oci_repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path_glob: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoverageDoc {
    pub(crate) kind: CoverageKindDoc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) standard: Option<StandardDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) custom: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CoverageKindDoc {
    Whole,
    Sections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StandardDoc {
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModeDoc {
    Enforce,
    Audit,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefaultDoc {
    pub(crate) rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) coverage: Option<CoverageDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<ModeDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) parts: Vec<PartDoc>,
}

/// Reads the document from a parsed value whose `schema` was checked.
pub(crate) fn document(root: &Value, toml: bool) -> Result<Document, PolicyError> {
    let top: TopDoc = from_value(root, &Path::root(), toml)?;
    let mut principals = BTreeMap::new();
    if let Value::Table(t) = root {
        match t.get("principals") {
            None => {}
            Some(Value::Table(p)) => {
                let base = Path::root().key("principals");
                for (name, v) in p {
                    principals.insert(name.clone(), principal(v, &base.key(name), toml)?);
                }
            }
            Some(other) => {
                let msg = format!("expected a table of principals, found {}", other.type_name());
                return Err(PolicyError::new(ErrorCode::InvalidType, "principals", msg));
            }
        }
    }
    Ok(Document {
        schema: top.schema,
        revoked: top.revoked,
        principals,
        rules: top.rules,
        scopes: top.scopes,
        default: top.default,
    })
}

fn principal(v: &Value, path: &Path, toml: bool) -> Result<PrincipalDoc, PolicyError> {
    let Value::Table(t) = v else {
        let msg = format!("expected a table (a principal), found {}", v.type_name());
        return Err(PolicyError::new(ErrorCode::InvalidType, path, msg));
    };
    let kind_path = path.key("kind");
    let kind = match t.get("kind") {
        None => return Err(PolicyError::new(ErrorCode::MissingField, kind_path, "`kind` is required")),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            let msg = format!("expected a string, found {}", other.type_name());
            return Err(PolicyError::new(ErrorCode::InvalidType, kind_path, msg));
        }
    };
    let mut rest = t.clone();
    rest.remove("kind");
    let rest = Value::Table(rest);
    Ok(match kind {
        "key" => PrincipalDoc::Key(from_value(&rest, path, toml)?),
        "keyless" => PrincipalDoc::Keyless(from_value(&rest, path, toml)?),
        "x509" => PrincipalDoc::X509(from_value(&rest, path, toml)?),
        "attestation" => PrincipalDoc::Attestation(from_value(&rest, path, toml)?),
        other => {
            let msg = format!("\"{other}\" is not one of \"key\", \"keyless\", \"x509\", \"attestation\"");
            return Err(PolicyError::new(ErrorCode::InvalidValue, kind_path, msg));
        }
    })
}

impl Document {
    /// The document as a value tree, for the writers: date-times (only
    /// `valid_until`) become TOML date-times when `toml` is set.
    pub(crate) fn to_value(&self, toml: bool) -> Result<Value, PolicyError> {
        let json = serde_json::to_value(self).map_err(|e| {
            PolicyError::new(ErrorCode::InvalidValue, "", "the policy cannot be written out").with_source(e)
        })?;
        let mut v = from_json_value(json)?;
        if !toml {
            return Ok(v);
        }
        let Value::Table(root) = &mut v else { return Ok(v) };
        let Some(Value::Table(principals)) = root.get_mut("principals") else { return Ok(v) };
        for p in principals.values_mut() {
            let Value::Table(p) = p else { continue };
            if let Some(Value::String(s)) = p.get("valid_until").cloned() {
                p.insert("valid_until".into(), Value::Datetime(s));
            }
        }
        Ok(v)
    }
}

fn from_json_value(v: serde_json::Value) -> Result<Value, PolicyError> {
    Ok(match v {
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => return Err(PolicyError::new(ErrorCode::InvalidValue, "", "a number that is not an integer")),
        },
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(from_json_value).collect::<Result<_, _>>()?),
        serde_json::Value::Object(o) => {
            Value::Table(o.into_iter().map(|(k, v)| Ok((k, from_json_value(v)?))).collect::<Result<_, PolicyError>>()?)
        }
        serde_json::Value::Null => return Err(PolicyError::new(ErrorCode::InvalidValue, "", "a null value")),
    })
}
