//! Linux i2c-dev access through linux-embedded-hal (feature `linux`).

use linux_embedded_hal::{Delay, I2cdev};

use crate::driver::{Atecc, Options};
use crate::error::{AteccError, Result};
use crate::signer::AteccSigner;
use crate::uri::AteccUri;

/// The driver on a Linux I2C bus.
pub type LinuxAtecc = Atecc<I2cdev, Delay>;

/// Opens the bus named by `uri` (needs read/write access to the node).
pub fn open(uri: &AteccUri) -> Result<LinuxAtecc> {
    let i2c = I2cdev::new(&uri.bus).map_err(|e| AteccError::Open(format!("{}: {e}", uri.bus)))?;
    Ok(Atecc::with_options(i2c, Delay, Options { address: uri.address, ..Options::default() }))
}

/// Opens the bus and makes a signer for the URI's slot (reads the public key).
pub fn open_signer(uri: &AteccUri) -> Result<AteccSigner<I2cdev, Delay>> {
    AteccSigner::new(open(uri)?, uri.slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bus_is_an_open_error() {
        let uri: AteccUri = "atecc:/dev/wsc-no-such-i2c-bus?slot=1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(open(&uri), Err(AteccError::Open(m)) if m.contains("/dev/wsc-no-such-i2c-bus")));
    }
}
