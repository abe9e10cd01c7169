//! Unsigned LEB128 (varuint32), as the WebAssembly binary format uses it.

use alloc::vec::Vec;

use crate::error::{Error, Result};

/// Maximum encoded length of a varuint32.
pub(crate) const MAX_LEN: usize = 5;

/// A decoded varuint32 and whether its encoding was the minimal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leb {
    pub(crate) value: u32,
    pub(crate) len: usize,
    pub(crate) minimal: bool,
}

/// Feeds bytes one at a time; returns `Some` when the number is complete.
#[derive(Debug, Default)]
pub(crate) struct LebDecoder {
    value: u64,
    len: usize,
}

impl LebDecoder {
    /// Adds one byte. `offset` is where the number started, for errors.
    pub(crate) fn push(&mut self, byte: u8, offset: u64, what: &'static str) -> Result<Option<Leb>> {
        let shift = 7 * self.len;
        self.len += 1;
        if self.len == MAX_LEN && byte & 0x70 != 0 {
            return Err(Error::malformed(offset, what, "varuint32 overflows 32 bits"));
        }
        self.value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            let value =
                u32::try_from(self.value).map_err(|_| Error::malformed(offset, what, "varuint32 overflows 32 bits"))?;
            let minimal = encoded_len(value) == self.len;
            return Ok(Some(Leb { value, len: self.len, minimal }));
        }
        if self.len == MAX_LEN {
            return Err(Error::malformed(offset, what, "varuint32 longer than 5 bytes"));
        }
        Ok(None)
    }
}

/// Reads a varuint32 from a slice at `*pos`, advancing it. `base` is the
/// offset of the slice in the input, for errors.
pub(crate) fn read_slice(buf: &[u8], pos: &mut usize, base: u64, what: &'static str) -> Result<Leb> {
    let start = base + *pos as u64;
    let mut dec = LebDecoder::default();
    loop {
        let Some(&byte) = buf.get(*pos) else {
            return Err(Error::eof(base + *pos as u64, what));
        };
        *pos += 1;
        if let Some(leb) = dec.push(byte, start, what)? {
            return Ok(leb);
        }
    }
}

/// Number of bytes of the minimal encoding of `value`.
pub(crate) fn encoded_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Appends the minimal encoding of `value`.
pub(crate) fn write(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends the minimal encoding of a length, refusing lengths over `u32::MAX`.
pub(crate) fn write_len(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let v = u32::try_from(len).map_err(|_| Error::TooLarge {
        offset: 0,
        what: "encoded length",
        len: len as u64,
        limit: u64::from(u32::MAX),
    })?;
    write(out, v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(bytes: &[u8]) -> Result<Leb> {
        let mut pos = 0;
        read_slice(bytes, &mut pos, 0, "test")
    }

    #[test]
    fn vectors() {
        type Case<'a> = (&'a [u8], Option<(u32, bool)>);
        let cases: &[Case<'_>] = &[
            (&[0x00], Some((0, true))),
            (&[0x7f], Some((127, true))),
            (&[0x80, 0x01], Some((128, true))),
            (&[0x80, 0x00], Some((0, false))),
            (&[0xd2, 0x01], Some((210, true))),
            (&[0xff, 0xff, 0xff, 0xff, 0x0f], Some((u32::MAX, true))),
            (&[0x85, 0x80, 0x80, 0x80, 0x00], Some((5, false))),
            (&[0xff, 0xff, 0xff, 0xff, 0x1f], None),
            (&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], None),
            (&[0x80], None),
        ];
        for (bytes, want) in cases {
            let got = dec(bytes).ok().map(|l| (l.value, l.minimal));
            assert_eq!(got, *want, "{bytes:02x?}");
        }
    }

    #[test]
    fn round_trip() {
        for v in [0u32, 1, 127, 128, 16383, 16384, 0x1f_ffff, 0x20_0000, u32::MAX] {
            let mut out = Vec::new();
            write(&mut out, v);
            assert_eq!(out.len(), encoded_len(v));
            let l = dec(&out).expect("decodes");
            assert_eq!((l.value, l.len, l.minimal), (v, out.len(), true));
        }
    }
}
