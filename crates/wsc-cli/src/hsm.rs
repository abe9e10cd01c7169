//! `wsc hsm atecc info|provision|pubkey`: an ATECC608 secure element on a
//! Linux I2C bus (`atecc:/dev/i2c-1?address=0x60&slot=0`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use wsc_core::keys::hex;
use wsc_hsm_atecc::AteccUri;

use crate::Outcome;
use crate::files::{self, Mode};

#[derive(Debug, Subcommand)]
pub(crate) enum HsmCommand {
    /// Microchip ATECC608 on Linux I2C.
    #[command(subcommand)]
    Atecc(AteccCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AteccCommand {
    /// Revision, serial, locks, and whether the slot is a private, unreadable P-256 signing key.
    Info(DeviceArgs),
    /// Generate the key in the slot (locking the zones on request) and write a CSR.
    Provision(ProvisionArgs),
    /// Print the slot's public key (PEM).
    Pubkey(PubkeyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DeviceArgs {
    /// `atecc:/dev/i2c-1?address=0x60&slot=0` (quote it in the shell).
    #[arg(long, value_name = "URI")]
    device: String,
}

#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Lock the configuration zone as it is now (irreversible).
    #[arg(long, requires = "confirm_serial")]
    lock_config: bool,
    /// Lock the data zone after generating the key (irreversible).
    #[arg(long, requires = "confirm_serial")]
    lock_data: bool,
    /// The device's serial number in hex, as `info` prints it: required to lock.
    #[arg(long, value_name = "HEX")]
    confirm_serial: Option<String>,
    /// Write a CSR for this device id (needs both zones locked).
    #[arg(long, value_name = "FILE", requires = "device_id")]
    csr: Option<PathBuf>,
    /// Device id for the CSR.
    #[arg(long, value_name = "ID")]
    device_id: Option<String>,
}

#[derive(Debug, Args)]
#[command(mut_arg("output", |a| a.help("Write the PEM here instead of stdout")))]
pub(crate) struct PubkeyArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    output: crate::args::OptionalOutput,
}

fn uri(s: &str) -> Result<AteccUri> {
    s.parse::<AteccUri>().with_context(|| format!("invalid device URI '{s}'"))
}

pub(crate) fn run(cmd: &HsmCommand) -> Result<Outcome> {
    let HsmCommand::Atecc(cmd) = cmd;
    match cmd {
        AteccCommand::Info(a) => {
            let u = uri(&a.device)?;
            let report = wsc_hsm_atecc::linux::open(&u)?.inspect(u.slot).with_context(|| format!("'{}'", a.device))?;
            println!("device:        {}", a.device);
            println!("revision:      {}", hex(&report.revision));
            println!("serial:        {}", hex(&report.serial));
            println!("config zone:   {}", if report.locks.config_locked { "locked" } else { "UNLOCKED" });
            println!("data zone:     {}", if report.locks.data_locked { "locked" } else { "UNLOCKED" });
            match report.ready_to_sign() {
                Ok(()) => println!("slot {}:        a private P-256 signing key that cannot be read out", report.slot),
                Err(e) => println!("slot {}:        not ready: {e}", report.slot),
            }
        }
        AteccCommand::Provision(a) => {
            let u = uri(&a.device.device)?;
            let mut dev = wsc_hsm_atecc::linux::open(&u)?;
            let report = dev.inspect(u.slot)?;
            let serial_ok = a.confirm_serial.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&hex(&report.serial)));
            if (a.lock_config || a.lock_data) && !serial_ok {
                bail!("--confirm-serial does not match the device serial {}", hex(&report.serial));
            }
            if a.lock_config {
                dev.lock_config(&report.config)?;
                eprintln!("configuration zone locked");
            }
            dev.provision_key(u.slot)?;
            eprintln!("key generated in slot {}", u.slot);
            if a.lock_data {
                dev.lock_data(&report.serial)?;
                eprintln!("data zone locked");
            }
            let signer = wsc_hsm_atecc::AteccSigner::open_provisioned(dev, u.slot)?;
            println!("{}", signer.public().to_pem()?);
            if let (Some(path), Some(id)) = (&a.csr, &a.device_id) {
                let csr = wsc_pki::Csr::create(&signer, id).context("cannot make the CSR on the chip")?;
                files::write_bytes(path, Mode::Public, csr.to_pem()?.as_bytes())?;
                eprintln!("CSR for {id} written to '{}'", path.display());
            }
        }
        AteccCommand::Pubkey(a) => {
            let u = uri(&a.device.device)?;
            let signer = wsc_hsm_atecc::linux::open_signer(&u)?;
            let pem = signer.public().to_pem()?;
            match &a.output.output {
                Some(p) => files::write_bytes(p, Mode::Public, pem.as_bytes())?,
                None => print!("{pem}"),
            }
        }
    }
    Ok(Outcome::Done)
}
