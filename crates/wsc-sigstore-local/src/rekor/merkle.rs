//! An in-memory RFC 6962 Merkle tree that keeps every complete subtree hash.
//!
//! Level `k` holds the hashes of the aligned complete subtrees of `2^k` leaves, so a
//! tree of `n` leaves stores fewer than `2n` hashes and any subtree root costs
//! O(log n) hashes.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    let mut k = 1u64;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The tree: leaves and every complete aligned subtree.
#[derive(Debug, Default)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self { levels: vec![Vec::new()] }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hash at `index`, if any.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// Appends a leaf hash and the complete subtrees it closes.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut k = 0;
        while self.levels[k].len() % 2 == 0 {
            let n = self.levels[k].len();
            let h = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(h);
            k += 1;
        }
    }

    /// MTH of the leaves `[start, end)`; requires `start < end <= len`.
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n.is_power_of_two() && start % n == 0 {
            let level = n.trailing_zeros() as usize;
            if let Some(h) = self.levels.get(level).and_then(|l| l.get((start / n) as usize)) {
                return *h;
            }
        }
        if n == 1 {
            // Unreachable for in-range arguments: single leaves always sit on level 0.
            return leaf_hash(&[]);
        }
        let k = split_point(n);
        node_hash(&self.subtree(start, start + k), &self.subtree(start + k, end))
    }

    /// Root hash of the first `size` leaves (`size <= len`); SHA-256 of nothing when empty.
    pub fn root(&self, size: u64) -> Hash {
        if size == 0 {
            return Sha256::digest([]).into();
        }
        self.subtree(0, size)
    }

    /// RFC 6962 audit path of leaf `index` in the tree of the first `size` leaves, leaf to root.
    /// Requires `index < size <= len`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Vec<Hash> {
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        out
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m - lo < k {
            self.path(m, lo, lo + k, out);
            out.push(self.subtree(lo + k, hi));
        } else {
            self.path(m, lo + k, hi, out);
            out.push(self.subtree(lo, lo + k));
        }
    }

    /// RFC 6962 §2.1.2 consistency proof from `first` to `last` leaves.
    /// Requires `0 < first <= last <= len`; empty when `first == last`.
    pub fn consistency_proof(&self, first: u64, last: u64) -> Vec<Hash> {
        let mut out = Vec::new();
        if first < last {
            self.subproof(first, 0, last, true, &mut out);
        }
        out
    }

    fn subproof(&self, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.subtree(lo, hi));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out);
            out.push(self.subtree(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, out);
            out.push(self.subtree(lo, lo + k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference MTH straight from RFC 6962 §2.1, over leaf hashes.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_reference_for_every_size() {
        let mut tree = Tree::new();
        let mut leaves = Vec::new();
        assert_eq!(tree.root(0), mth(&[]));
        for i in 0..70u32 {
            let l = leaf_hash(&i.to_be_bytes());
            leaves.push(l);
            tree.push(l);
            for size in 1..=leaves.len() {
                assert_eq!(tree.root(size as u64), mth(&leaves[..size]), "size {size}");
            }
        }
        assert_eq!(tree.len(), 70);
        assert_eq!(tree.leaf(3), Some(leaves[3]));
        assert_eq!(tree.leaf(70), None);
    }

    #[test]
    fn rfc6962_empty_root() {
        let want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let got = crate::codec::hex(&Tree::new().root(0));
        assert_eq!(got, want);
    }
}
