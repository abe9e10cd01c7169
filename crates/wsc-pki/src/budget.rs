//! Bounds on certificate path building.
//!
//! rustls-webpki looks for a path by trying, at each step, every
//! certificate whose subject is the current issuer, in every order, up to
//! six CA certificates deep. Its own budget per call (100 signature
//! checks, 200 000 search steps) is fixed: 0.103 offers no way to lower
//! it. A record's CA certificates may share one subject and issue each
//! other in a loop, so one record can cost thousands of steps, and a
//! module may carry 1024 records.
//!
//! So before webpki runs, wsc counts what its search could cost for the
//! record, from names and keys alone (an upper bound: it follows every
//! branch webpki could take), and refuses the record when that is over
//! [`MAX_RECORD_CHAIN_COST`] or over what is left of the verification's
//! [`ChainBudget`]. The unit is one certificate examined by the search; a
//! signature check costs [`SIGNATURE_COST`] units.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one signature check costs, in units of one certificate examined
/// (on the reference machine a P-256 or Ed25519 check takes about as long
/// as webpki examining 64 certificates).
pub const SIGNATURE_COST: u64 = 64;

/// Most units one record's path search may cost. A valid chain of six CA
/// certificates with two anchors of one name and CRLs costs under 2 000.
pub const MAX_RECORD_CHAIN_COST: u64 = 8192;

/// Units of path search one verification may spend across all its records
/// (4 096 records of a root and one intermediate would cost about half).
pub const DEFAULT_CHAIN_BUDGET: u64 = 1 << 19;

/// Most CA certificates webpki puts on a path.
const WEBPKI_MAX_CAS: usize = 6;

/// The units of path search left to one verification. Clones share the
/// same count, so verifiers run together (one per required anchor) spend
/// one budget.
#[derive(Debug, Clone)]
pub struct ChainBudget {
    total: u64,
    left: Arc<AtomicU64>,
}

impl Default for ChainBudget {
    fn default() -> Self {
        ChainBudget::new(DEFAULT_CHAIN_BUDGET)
    }
}

impl ChainBudget {
    /// A budget of `total` units.
    pub fn new(total: u64) -> Self {
        ChainBudget { total, left: Arc::new(AtomicU64::new(total)) }
    }

    /// The units it started with.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The units left.
    pub fn remaining(&self) -> u64 {
        self.left.load(Ordering::Relaxed)
    }

    /// Refills it, for the next verification.
    pub fn reset(&self) {
        self.left.store(self.total, Ordering::Relaxed);
    }

    /// Takes `units` if that many are left; otherwise empties it.
    pub(crate) fn take(&self, units: u64) -> bool {
        let taken = self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(units));
        if taken.is_err() {
            self.left.store(0, Ordering::Relaxed);
        }
        taken.is_ok()
    }
}

/// The names and key of one certificate, as webpki compares them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names<'a> {
    pub(crate) subject: &'a [u8],
    pub(crate) issuer: &'a [u8],
    pub(crate) spki: &'a [u8],
}

/// The most webpki's path search could cost for `leaf` with these CA
/// certificates and anchor subjects, or `None` once it is over `limit`
/// (counting stops there). `signatures_per_cert` is 2 with CRLs (each
/// certificate's CRL is checked too), else 1.
pub(crate) fn search_cost(
    leaf: Names<'_>,
    cas: &[Names<'_>],
    anchors: &[&[u8]],
    signatures_per_cert: u64,
    limit: u64,
) -> Option<u64> {
    let mut s = Search { leaf, cas, anchors, signatures_per_cert, limit, spent: 0, path: Vec::new() };
    s.visit(leaf.issuer).ok().map(|()| s.spent)
}

/// The counting walk: it mirrors webpki's `build_chain_inner`.
struct Search<'s, 'a> {
    leaf: Names<'a>,
    cas: &'s [Names<'a>],
    anchors: &'s [&'s [u8]],
    signatures_per_cert: u64,
    limit: u64,
    spent: u64,
    /// Indexes into `cas`, leaf side first.
    path: Vec<usize>,
}

/// The limit was passed.
struct OverLimit;

impl Search<'_, '_> {
    fn spend(&mut self, units: u64) -> Result<(), OverLimit> {
        self.spent = self.spent.saturating_add(units);
        if self.spent > self.limit { Err(OverLimit) } else { Ok(()) }
    }

    /// One step with `issuer` as the name sought: webpki checks the head,
    /// tries each anchor of that name (a signature per certificate on the
    /// path), then parses every CA certificate and follows each match not
    /// already on the path.
    fn visit(&mut self, issuer: &[u8]) -> Result<(), OverLimit> {
        let on_path = self.path.len() as u64 + 1;
        self.spend(1 + self.cas.len() as u64)?;
        for _ in self.anchors.iter().filter(|a| **a == issuer) {
            self.spend(on_path * self.signatures_per_cert * SIGNATURE_COST)?;
        }
        if self.path.len() >= WEBPKI_MAX_CAS {
            return Ok(());
        }
        for (i, ca) in self.cas.iter().enumerate() {
            if ca.subject != issuer || self.on_path(ca) {
                continue;
            }
            self.path.push(i);
            let walked = self.visit(ca.issuer);
            self.path.pop();
            walked?;
        }
        Ok(())
    }

    /// webpki's loop check: the same subject and key already on the path.
    fn on_path(&self, c: &Names<'_>) -> bool {
        let same = |n: &Names<'_>| n.subject == c.subject && n.spki == c.spki;
        same(&self.leaf) || self.path.iter().any(|&i| same(&self.cas[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n<'a>(subject: &'a [u8], issuer: &'a [u8], spki: &'a [u8]) -> Names<'a> {
        Names { subject, issuer, spki }
    }

    #[test]
    fn a_plain_chain_costs_its_steps_and_signatures() {
        let leaf = n(b"dev", b"int", b"k0");
        let cas = [n(b"int", b"root", b"k1")];
        // Leaf step: 1 + 1 parse; intermediate step: 1 + 1, then the root: 2 signatures.
        assert_eq!(search_cost(leaf, &cas, &[b"root"], 1, u64::MAX), Some(4 + 2 * SIGNATURE_COST));
        assert_eq!(search_cost(leaf, &cas, &[b"root"], 2, u64::MAX), Some(4 + 4 * SIGNATURE_COST));
    }

    #[test]
    fn a_loop_of_same_subject_cas_is_cut_at_the_limit() {
        let keys: Vec<Vec<u8>> = (0..7u8).map(|k| vec![k]).collect();
        let leaf = n(b"dev", b"loop", b"leaf");
        let cas: Vec<Names<'_>> = keys.iter().map(|k| n(b"loop", b"loop", k)).collect();
        assert_eq!(search_cost(leaf, &cas, &[b"root"], 1, MAX_RECORD_CHAIN_COST), None);
        // Every ordering up to six deep: 1 + 7 + 42 + 210 + 840 + 2520 + 5040 steps of 8 units.
        assert_eq!(search_cost(leaf, &cas, &[b"root"], 1, u64::MAX), Some(8660 * 8));
        // Five of them stay under the per-record limit.
        assert_eq!(search_cost(leaf, &cas[..5], &[b"root"], 1, u64::MAX), Some(326 * 6));
    }

    #[test]
    fn the_budget_is_shared_and_refilled() {
        let b = ChainBudget::new(10);
        let c = b.clone();
        assert!(b.take(6));
        assert_eq!(c.remaining(), 4);
        assert!(!c.take(5));
        assert_eq!(b.remaining(), 0);
        b.reset();
        assert_eq!(c.remaining(), 10);
    }
}
