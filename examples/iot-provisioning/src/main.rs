//! IoT provisioning with wsc-pki, end to end and offline:
//! 1. the vendor creates a root CA and an issuing CA;
//! 2. a signing station's key, which never leaves its signer, asks for a
//!    certificate with a CSR, and the issuing CA grants one for 7 days;
//! 3. the station signs a module; the record carries its certificate chain;
//! 4. a device that holds only the root certificate verifies the module;
//! 5. the vendor revokes the station: with the CRL, the device refuses it;
//!    after the certificate expires, the device refuses it too.
//!
//! It exits non-zero if any step does not behave as expected.

use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use wsc_core::{KeyAlgorithm, PublicKey, RecordVerifier, SecretKey, Signer, SignerError, Verification};
use wsc_pki::{Ca, CaProfile, CertSigner, CertVerifier, Csr, DeviceProfile, certificates_from_pem_or_der};

/// The station's key behind the signer seam, as a secure element would
/// hold it: callers can sign and read the public key, nothing else.
#[derive(Debug)]
struct Station {
    key: SecretKey,
}

impl Signer for Station {
    fn algorithm(&self) -> wsc_core::sigdata::AlgorithmId {
        self.key.public_key().algorithm().algorithm_id()
    }
    fn public_key(&self) -> Option<PublicKey> {
        Some(self.key.public_key())
    }
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.key.sign(message))
    }
}

/// A small module that exports nothing: types, no code.
const MODULE: &[u8] = b"\0asm\x01\0\0\0\x01\x07\x01\x60\x02\x7f\x7f\x01\x7f";

fn verify(signed: &[u8], verifier: &CertVerifier) -> Result<String, String> {
    let v: [&dyn RecordVerifier; 1] = [verifier];
    let report =
        wsc_core::verify_embedded(signed, &Verification::new(&v)).map_err(|e| wsc_core::Chain(&e).to_string())?;
    let reason = report.rejected.first().map(|r| r.reason.clone());
    match report.single() {
        Ok(ok) => Ok(ok.signatures[0].evidence.description.clone().unwrap_or_default()),
        Err(e) => Err(reason.unwrap_or_else(|| wsc_core::Chain(&e).to_string())),
    }
}

fn main() -> Result<()> {
    // 1. The vendor's CA.
    let root = Ca::new_root(&CaProfile::root("Acme Fleet Root", KeyAlgorithm::P256))?;
    let issuing = root.new_intermediate(&CaProfile::intermediate("Acme Station CA", KeyAlgorithm::P256))?;
    let root_pem = root.chain_pem()?;
    println!("1. root CA '{}' and issuing CA '{}' created", root.certificate().subject, issuing.certificate().subject);

    // 2. The station's CSR, signed by the station's own signer.
    let station = Station { key: SecretKey::generate(KeyAlgorithm::P256, &mut rand_core::OsRng) };
    let csr = Csr::create(&station, "station-3")?;
    let profile = DeviceProfile::for_device("station-3").valid_for(Duration::from_secs(7 * 86_400));
    let chain = issuing.issue(&csr, &profile)?;
    // What the station stores: its chain as PEM, read back as a device would.
    let chain_pem = wsc_pki::chain_to_pem(chain.iter().map(Vec::as_slice))?;
    let stored = certificates_from_pem_or_der(chain_pem.as_bytes())?;
    println!("2. station certificate issued for 7 days, {} certificate(s) in the chain", stored.len());

    // 3. The station signs.
    let signed = wsc_core::sign(MODULE, &CertSigner::new(&station, chain.clone())?)?;
    println!("3. module signed: {} bytes", signed.len());

    // 4. The device, with only the root certificate.
    let device = CertVerifier::from_pem(root_pem.as_bytes())?;
    match verify(&signed, &device) {
        Ok(who) => println!("4. device verified the module: signed by {who}"),
        Err(e) => bail!("the device refused a valid module: {e}"),
    }
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    if verify(&tampered, &device).is_ok() {
        bail!("a tampered module verified");
    }
    println!("   a tampered copy is refused");

    // 5. Revocation and expiry.
    let now = SystemTime::now();
    let serial = wsc_pki::CertInfo::parse(&chain[0])?.serial;
    let crl = issuing.crl(&[serial], now, now + Duration::from_secs(86_400))?;
    let mut revoking = CertVerifier::from_pem(root_pem.as_bytes())?;
    revoking.add_crl(&crl)?;
    match verify(&signed, &revoking) {
        Ok(_) => bail!("a revoked station's module verified"),
        Err(e) => println!("5. with the CRL, the device refuses it: {e}"),
    }
    let later = CertVerifier::from_pem(root_pem.as_bytes())?.at_time(now + Duration::from_secs(8 * 86_400));
    match verify(&signed, &later) {
        Ok(_) => bail!("a module verified with an expired certificate"),
        Err(e) => println!("   8 days later, the device refuses it: {e}"),
    }
    println!("all expectations met");
    Ok(())
}
