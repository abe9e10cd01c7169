//! The `atecc:` signer URI, e.g. `atecc:/dev/i2c-1?address=0x60&slot=0`.
//! Parsing needs no hardware, so a CLI can check it without the `linux`
//! feature.

use std::fmt;
use std::str::FromStr;

use crate::config::SLOTS;
use crate::error::AteccError;
use crate::protocol::DEFAULT_ADDRESS;

/// Where a key lives: bus device path, 7-bit address, slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AteccUri {
    /// The i2c-dev node, e.g. `/dev/i2c-1`.
    pub bus: String,
    /// The 7-bit I2C address (default `0x60`).
    pub address: u8,
    /// The key slot (default 0).
    pub slot: u8,
}

fn number(key: &str, value: &str) -> Result<u8, AteccError> {
    let parsed = match value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => value.parse(),
    };
    parsed.map_err(|_| AteccError::Argument(format!("atecc URI: {key}={value} is not a number 0..255")))
}

impl FromStr for AteccUri {
    type Err = AteccError;

    fn from_str(s: &str) -> Result<Self, AteccError> {
        let bad = |why: &str| AteccError::Argument(format!("atecc URI {s:?}: {why}"));
        let rest = s.strip_prefix("atecc:").ok_or_else(|| bad("must start with atecc:"))?;
        let (bus, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !bus.starts_with('/') {
            return Err(bad("expected an absolute i2c-dev path such as /dev/i2c-1"));
        }
        let (mut address, mut slot) = (None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| bad("parameters are key=value"))?;
            let target = match key {
                "address" => &mut address,
                "slot" => &mut slot,
                _ => return Err(bad(&format!("unknown parameter {key:?} (address, slot)"))),
            };
            if target.replace(number(key, value)?).is_some() {
                return Err(bad(&format!("{key} given twice")));
            }
        }
        let address = address.unwrap_or(DEFAULT_ADDRESS);
        if !(0x08..=0x77).contains(&address) {
            return Err(bad("address must be a 7-bit address 0x08..0x77"));
        }
        let slot = slot.unwrap_or(0);
        if slot >= SLOTS {
            return Err(bad("slot must be 0..15"));
        }
        Ok(AteccUri { bus: bus.to_string(), address, slot })
    }
}

impl fmt::Display for AteccUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "atecc:{}?address=0x{:02x}&slot={}", self.bus, self.address, self.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let u: AteccUri = "atecc:/dev/i2c-1?address=0x60&slot=0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u, AteccUri { bus: "/dev/i2c-1".into(), address: 0x60, slot: 0 });
        assert_eq!(u.to_string(), "atecc:/dev/i2c-1?address=0x60&slot=0");
        let u: AteccUri = "atecc:/dev/i2c-3?slot=2&address=53".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.address, u.slot), (0x35, 2));
        let u: AteccUri = "atecc:/dev/i2c-0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.address, u.slot), (0x60, 0));
        for bad in [
            "pkcs11:x",
            "atecc:i2c-1",
            "atecc:/dev/i2c-1?slot=16",
            "atecc:/dev/i2c-1?address=0x80",
            "atecc:/dev/i2c-1?address=0x60&address=0x61",
            "atecc:/dev/i2c-1?pin=1",
            "atecc:/dev/i2c-1?slot",
            "atecc:/dev/i2c-1?slot=x",
        ] {
            assert!(bad.parse::<AteccUri>().is_err(), "{bad}");
        }
    }
}
