//! The ATECC CRC-16: polynomial `0x8005`, initial value 0, input bits
//! taken least significant first, no final XOR, sent little-endian.

/// Computes the CRC of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        for bit in 0..8 {
            let data_bit = (byte >> bit) & 1;
            let crc_bit = (crc >> 15) as u8;
            crc <<= 1;
            if data_bit != crc_bit {
                crc ^= 0x8005;
            }
        }
    }
    crc
}

/// The CRC as it is sent on the wire (low byte first).
pub fn crc16_bytes(data: &[u8]) -> [u8; 2] {
    crc16(data).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_from_the_protocol_document() {
        assert_eq!(crc16(b"123456789"), 0xBCDD);
        assert_eq!(crc16_bytes(&[0x04, 0x11]), [0x33, 0x43]);
        assert_eq!(crc16_bytes(&[0x04, 0x00]), [0x03, 0x40]);
        assert_eq!(crc16_bytes(&[0x04, 0x07]), [0x40, 0xC2]);
        assert_eq!(crc16_bytes(&[0x07, 0x30, 0x00, 0x00, 0x00]), [0x03, 0x5D]);
        assert_eq!(crc16_bytes(&[0x07, 0x41, 0xA0, 0x00, 0x00]), [0x7B, 0x85]);
    }
}
