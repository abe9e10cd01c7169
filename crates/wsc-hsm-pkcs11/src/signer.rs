//! The PKCS#11 signer: find or generate a key on a token, export its public
//! key, sign set messages with it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use wsc_core::sigdata::AlgorithmId;
use wsc_core::{KeyAlgorithm, PublicKey, Signer, SignerError};
use zeroize::Zeroizing;

use crate::error::{Pkcs11Error, Result};
use crate::uri::Pkcs11Uri;

/// DER of the P-256 curve OID (1.2.840.10045.3.1.7), as CKA_EC_PARAMS.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// DER of the Ed25519 OID (1.3.101.112, RFC 8410), as CKA_EC_PARAMS.
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2B, 0x65, 0x70];
/// DER PrintableString `edwards25519`: how OpenSC and older tokens name the curve.
const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";

/// Module contexts of this process, by path. PKCS#11 allows one
/// `C_Initialize` per module and process, so every signer shares them.
static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();

/// Loads and initialises a module once per process.
fn load_module(path: &Path) -> Result<Pkcs11> {
    let mut modules = MODULES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(ctx) = modules.get(path) {
        return Ok(ctx.clone());
    }
    let load = |source| Pkcs11Error::Load { path: path.to_path_buf(), source };
    let ctx = Pkcs11::new(path).map_err(load)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Another library in this process may have initialised it already.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load(e)),
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// The module path: the URI's `module-path`, else the caller's fallback.
fn module_path<'a>(uri: &'a Pkcs11Uri, fallback: Option<&'a Path>) -> Result<&'a Path> {
    let path = uri.module_path.as_deref().or(fallback).ok_or(Pkcs11Error::NoModule)?;
    if !path.is_absolute() {
        return Err(Pkcs11Error::RelativeModulePath(path.to_path_buf()));
    }
    Ok(path)
}

/// The one initialised token the URI selects.
fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot> {
    let slots = ctx.get_slots_with_initialized_token().map_err(|e| Pkcs11Error::from_cryptoki("slot listing", e))?;
    let mut found = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx.get_token_info(slot).map_err(|e| Pkcs11Error::from_cryptoki("token query", e))?;
        let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have.trim_end());
        if matches(&uri.token, info.label())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.model, info.model())
        {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(Pkcs11Error::TokenNotFound(uri.key_uri())),
        many => Err(Pkcs11Error::AmbiguousToken { uri: uri.key_uri(), count: many.len() }),
    }
}

/// Logs the user in; a session already logged in is fine.
fn login(session: &Session, pin: &Zeroizing<String>) -> Result<()> {
    let pin = AuthPin::from(pin.as_str());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(Pkcs11Error::from_cryptoki("login", e)),
    }
}

/// The search template for objects of `class` the URI names.
fn template(uri: &Pkcs11Uri, class: ObjectClass) -> Result<Vec<Attribute>> {
    if uri.object.is_none() && uri.id.is_none() {
        return Err(Pkcs11Error::NoObject);
    }
    let mut t = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    Ok(t)
}

/// The one object matching `template`, or `None`.
fn find_one(session: &Session, uri: &Pkcs11Uri, template: &[Attribute]) -> Result<Option<ObjectHandle>> {
    let found = session.find_objects(template).map_err(|e| Pkcs11Error::from_cryptoki("object search", e))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(Pkcs11Error::AmbiguousKey { uri: uri.key_uri(), count: many.len() }),
    }
}

/// Reads and decodes the public key object of the pair the URI names.
fn read_public(session: &Session, uri: &Pkcs11Uri, extra: &[Attribute]) -> Result<PublicKey> {
    let mut t = template(uri, ObjectClass::PUBLIC_KEY)?;
    t.extend_from_slice(extra);
    let handle = find_one(session, uri, &t)?.ok_or_else(|| Pkcs11Error::PublicKeyNotFound(uri.key_uri()))?;
    let attrs = session
        .get_attributes(handle, &[AttributeType::KeyType, AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| Pkcs11Error::from_cryptoki("public key read", e))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let key_type = key_type.ok_or_else(|| Pkcs11Error::UnsupportedKey("public key without a key type".into()))?;
    let (Some(params), Some(point)) = (params, point) else {
        return Err(Pkcs11Error::UnsupportedKey(format!("{key_type} key")));
    };
    decode_public(key_type, &params, &point)
}

/// Turns CKA_KEY_TYPE, CKA_EC_PARAMS and CKA_EC_POINT into a wsc key.
fn decode_public(key_type: KeyType, params: &[u8], point: &[u8]) -> Result<PublicKey> {
    let invalid = |what: &str| Pkcs11Error::UnsupportedKey(format!("{what} with a malformed CKA_EC_POINT"));
    if key_type == KeyType::EC {
        if params != P256_PARAMS {
            return Err(Pkcs11Error::UnsupportedKey("EC key on a curve other than P-256".into()));
        }
        // PKCS#11 wraps the SEC1 point in a DER OCTET STRING; some tokens do not.
        let sec1 = match point {
            [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
            p if p.len() == 65 => p,
            _ => return Err(invalid("P-256 key")),
        };
        PublicKey::from_any(sec1).map_err(|_| invalid("P-256 key"))
    } else if key_type == KeyType::EC_EDWARDS {
        if params != ED25519_PARAMS && params != ED25519_PARAMS_NAME {
            return Err(Pkcs11Error::UnsupportedKey("Edwards key on a curve other than Ed25519".into()));
        }
        let raw = match point {
            [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
            p if p.len() == 32 => p,
            _ => return Err(invalid("Ed25519 key")),
        };
        // wsc reads raw Ed25519 public keys in the wasmsign2 form `01 ‖ pk`.
        let mut tagged = vec![0x01];
        tagged.extend_from_slice(raw);
        PublicKey::from_any(&tagged).map_err(|_| invalid("Ed25519 key"))
    } else {
        Err(Pkcs11Error::UnsupportedKey(format!("{key_type} key")))
    }
}

/// Reads the public key the URI names, without signing anything. The PIN
/// is needed only for tokens that keep public keys private.
pub fn read_public_key(uri: &Pkcs11Uri, module: Option<&Path>, pin: Option<&Zeroizing<String>>) -> Result<PublicKey> {
    let ctx = load_module(module_path(uri, module)?)?;
    let slot = find_token(&ctx, uri)?;
    let session = ctx.open_ro_session(slot).map_err(|e| Pkcs11Error::from_cryptoki("session open", e))?;
    if let Some(pin) = pin {
        login(&session, pin)?;
    }
    read_public(&session, uri, &[])
}

/// A key on a PKCS#11 token, usable as a [`wsc_core::Signer`].
///
/// P-256 keys sign SHA-256(message) with `CKM_ECDSA` (the host hashes;
/// SoftHSM2 has no `CKM_ECDSA_SHA256`) and give `r ‖ s` with low S.
/// Ed25519 keys sign the message with `CKM_EDDSA` (pure Ed25519). Every
/// signature is checked against the exported public key before it is
/// returned. The PIN is used to log in and is not kept.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
    uri: String,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer").field("uri", &self.uri).field("public", &self.public).finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Opens the key pair the URI names. `module` is used when the URI has
    /// no `module-path` (the CLI passes `WSC_PKCS11_MODULE`).
    pub fn open(uri: &Pkcs11Uri, module: Option<&Path>, pin: &Zeroizing<String>) -> Result<Self> {
        let ctx = load_module(module_path(uri, module)?)?;
        let slot = find_token(&ctx, uri)?;
        let session = ctx.open_ro_session(slot).map_err(|e| Pkcs11Error::from_cryptoki("session open", e))?;
        login(&session, pin)?;
        let key = find_one(&session, uri, &template(uri, ObjectClass::PRIVATE_KEY)?)?
            .ok_or_else(|| Pkcs11Error::KeyNotFound(uri.key_uri()))?;
        // Pair the public key by CKA_ID when the private key has one.
        let id = session
            .get_attributes(key, &[AttributeType::Id])
            .map_err(|e| Pkcs11Error::from_cryptoki("private key read", e))?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Id(id) if !id.is_empty() && uri.id.is_none() => Some(Attribute::Id(id)),
                _ => None,
            });
        let public = read_public(&session, uri, id.as_slice())?;
        Ok(Pkcs11Signer { session: Mutex::new(session), key, public, uri: uri.key_uri() })
    }

    /// Generates a key pair on the token under the URI's `object` label
    /// (and `id`, or 16 random bytes from the token). The private key is
    /// sensitive and not extractable. Refuses a label already in use.
    pub fn generate(
        uri: &Pkcs11Uri,
        module: Option<&Path>,
        pin: &Zeroizing<String>,
        algorithm: KeyAlgorithm,
    ) -> Result<Self> {
        let label = uri.object.clone().ok_or(Pkcs11Error::NoLabel)?;
        let (mechanism, params) = match algorithm {
            KeyAlgorithm::P256 => (Mechanism::EccKeyPairGen, P256_PARAMS),
            KeyAlgorithm::Ed25519 => (Mechanism::EccEdwardsKeyPairGen, ED25519_PARAMS),
            other => return Err(Pkcs11Error::UnsupportedKey(format!("{} key generation", other.as_str()))),
        };
        let ctx = load_module(module_path(uri, module)?)?;
        let slot = find_token(&ctx, uri)?;
        let session = ctx.open_rw_session(slot).map_err(|e| Pkcs11Error::from_cryptoki("session open", e))?;
        login(&session, pin)?;
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let existing = session
                .find_objects(&[Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())])
                .map_err(|e| Pkcs11Error::from_cryptoki("object search", e))?;
            if !existing.is_empty() {
                return Err(Pkcs11Error::KeyExists(label));
            }
        }
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => session.generate_random_vec(16).map_err(|e| Pkcs11Error::from_cryptoki("random id", e))?,
        };
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        let (_, key) = session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(|e| Pkcs11Error::from_cryptoki("key pair generation", e))?;
        let mut key_uri = uri.clone();
        key_uri.id = Some(id);
        let public = read_public(&session, &key_uri, &[])?;
        Ok(Pkcs11Signer { session: Mutex::new(session), key, public, uri: key_uri.key_uri() })
    }

    /// The key's public key, as read from the token.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// A URI naming the token and key (no module path, no PIN).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Signs a message: ECDSA P-256 over SHA-256 (64-byte `r ‖ s`, low S)
    /// or pure Ed25519 (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let (signature, name) = match self.public.algorithm() {
            KeyAlgorithm::P256 => {
                let digest = wsc_core::prehash::digest(message);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.key, &digest)
                    .map_err(|e| Pkcs11Error::from_cryptoki("ECDSA signing", e))?;
                let sig = wsc_core::prehash::finish_p256(&self.public, &digest, &raw)
                    .map_err(|_| Pkcs11Error::BadSignature("ECDSA P-256"))?;
                (sig.to_vec(), "ECDSA P-256")
            }
            KeyAlgorithm::Ed25519 => {
                let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                let raw = session
                    .sign(&mechanism, self.key, message)
                    .map_err(|e| Pkcs11Error::from_cryptoki("EdDSA signing", e))?;
                (raw, "Ed25519")
            }
            other => return Err(Pkcs11Error::UnsupportedKey(other.as_str().to_string())),
        };
        if !self.public.verify(message, &signature) {
            return Err(Pkcs11Error::BadSignature(name));
        }
        Ok(signature)
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> AlgorithmId {
        self.public.algorithm().algorithm_id()
    }

    fn public_key(&self) -> Option<PublicKey> {
        Some(self.public.clone())
    }

    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.sign(message).map_err(SignerError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_wrapped_and_bare_points() {
        // The Ed25519 base point's encoding.
        let base = [
            0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
            0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        ];
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&base);
        let a = decode_public(KeyType::EC_EDWARDS, ED25519_PARAMS, &wrapped).expect("wrapped point");
        let b = decode_public(KeyType::EC_EDWARDS, ED25519_PARAMS_NAME, &base).expect("bare point");
        assert_eq!(a, b);
        assert!(matches!(decode_public(KeyType::EC, ED25519_PARAMS, &wrapped), Err(Pkcs11Error::UnsupportedKey(_))));
        assert!(matches!(decode_public(KeyType::RSA, &[], &[]), Err(Pkcs11Error::UnsupportedKey(_))));
    }

    #[test]
    fn module_path_must_be_given_and_absolute() {
        let uri = Pkcs11Uri::parse("pkcs11:object=k").expect("valid URI");
        assert!(matches!(module_path(&uri, None), Err(Pkcs11Error::NoModule)));
        assert!(matches!(module_path(&uri, Some(Path::new("lib.so"))), Err(Pkcs11Error::RelativeModulePath(_))));
        assert_eq!(module_path(&uri, Some(Path::new("/m.so"))).ok(), Some(Path::new("/m.so")));
    }
}
