//! Pin configuration: per service, per host, and strict mode.
//!
//! Sources, later ones overriding earlier ones key by key: a config file of
//! `NAME=VALUE` lines with the same names as the environment variables, the
//! environment, and code.

use std::collections::BTreeMap;
use std::fmt;

use crate::PinningError;
use crate::pin::Pin;

/// A service wsc talks to: the Sigstore side, and OCI registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The Fulcio certificate authority.
    Fulcio,
    /// The Rekor transparency log.
    Rekor,
    /// An RFC 3161 timestamp authority.
    Tsa,
    /// The OIDC identity provider.
    Oidc,
    /// The Sigstore TUF repository (trust root updates).
    Tuf,
    /// An OCI registry (and its token service, when on another host).
    Registry,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 6] =
        [Service::Fulcio, Service::Rekor, Service::Tsa, Service::Oidc, Service::Tuf, Service::Registry];

    /// The environment variable (and config-file key) holding its pins.
    pub fn variable(self) -> &'static str {
        match self {
            Service::Fulcio => "WSC_FULCIO_PINS",
            Service::Rekor => "WSC_REKOR_PINS",
            Service::Tsa => "WSC_TSA_PINS",
            Service::Oidc => "WSC_OIDC_PINS",
            Service::Tuf => "WSC_TUF_PINS",
            Service::Registry => "WSC_REGISTRY_PINS",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Fulcio => "Fulcio",
            Service::Rekor => "Rekor",
            Service::Tsa => "the timestamp authority",
            Service::Oidc => "the OIDC provider",
            Service::Tuf => "the TUF repository",
            Service::Registry => "the OCI registry",
        })
    }
}

/// The strict-mode variable.
pub const REQUIRE_VARIABLE: &str = "WSC_REQUIRE_CERT_PINNING";

/// The variable naming a pin configuration file.
pub const CONFIG_FILE_VARIABLE: &str = "WSC_PINNING_CONFIG";

/// Which pins apply where, and whether pins are required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinningConfig {
    services: BTreeMap<Service, Vec<Pin>>,
    hosts: BTreeMap<String, Vec<Pin>>,
    require: bool,
}

/// Parses a comma-separated list of pins.
pub(crate) fn parse_pins(text: &str, source_name: &str) -> Result<Vec<Pin>, PinningError> {
    let mut pins = Vec::new();
    for part in text.split(',') {
        let pin = part.parse().map_err(|()| PinningError::InvalidPin {
            pin: part.trim().to_string(),
            source_name: source_name.to_string(),
        })?;
        pins.push(pin);
    }
    Ok(pins)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, PinningError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(PinningError::InvalidSetting {
            name: name.into(),
            value: value.into(),
            expected: "1/true/yes/on or 0/false/no/off",
        }),
    }
}

impl PinningConfig {
    /// No pins, not strict.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the environment variables (`WSC_FULCIO_PINS`, `WSC_REKOR_PINS`,
    /// `WSC_TSA_PINS`, `WSC_OIDC_PINS`, `WSC_TUF_PINS`, `WSC_REGISTRY_PINS`,
    /// `WSC_REQUIRE_CERT_PINNING`).
    pub fn from_env() -> Result<Self, PinningError> {
        Self::new().apply(|name| std::env::var(name).ok())
    }

    /// The configuration wsc uses: the file named by `WSC_PINNING_CONFIG`
    /// (if set), then the environment variables over it, key by key.
    /// A file that cannot be read is an error, not an empty configuration.
    pub fn load() -> Result<Self, PinningError> {
        Self::load_with(|name| std::env::var(name).ok())
    }

    /// [`load`](Self::load) with another source of variables.
    pub fn load_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PinningError> {
        let mut config = Self::new();
        if let Some(path) = lookup(CONFIG_FILE_VARIABLE) {
            let text = std::fs::read_to_string(&path).map_err(|e| PinningError::InvalidSetting {
                name: CONFIG_FILE_VARIABLE.into(),
                value: format!("{path} ({e})"),
                expected: "a readable file of NAME=VALUE lines",
            })?;
            config = config.apply_file(&text)?;
        }
        config.apply(lookup)
    }

    /// Applies settings from a lookup (the environment, a file), each one
    /// that is present replacing what was there.
    pub fn apply(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PinningError> {
        for s in Service::ALL {
            if let Some(v) = lookup(s.variable()) {
                self.services.insert(s, parse_pins(&v, s.variable())?);
            }
        }
        if let Some(v) = lookup(REQUIRE_VARIABLE) {
            self.require = parse_bool(REQUIRE_VARIABLE, &v)?;
        }
        Ok(self)
    }

    /// Applies a config file: `NAME=VALUE` lines with the variable names,
    /// `#` comments, and `WSC_HOST_PINS=host=pin,pin` lines for any host.
    pub fn apply_file(mut self, text: &str) -> Result<Self, PinningError> {
        let mut values = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(PinningError::InvalidSetting {
                    name: format!("line {}", n + 1),
                    value: line.into(),
                    expected: "NAME=VALUE",
                });
            };
            let (k, v) = (k.trim(), v.trim());
            if k == "WSC_HOST_PINS" {
                let Some((host, pins)) = v.split_once('=') else {
                    return Err(PinningError::InvalidSetting {
                        name: format!("WSC_HOST_PINS on line {}", n + 1),
                        value: v.into(),
                        expected: "HOST=PIN[,PIN...]",
                    });
                };
                let pins = parse_pins(pins, &format!("line {}", n + 1))?;
                self.hosts.entry(host.trim().to_ascii_lowercase()).or_default().extend(pins);
                continue;
            }
            if !Service::ALL.iter().any(|s| s.variable() == k) && k != REQUIRE_VARIABLE {
                return Err(PinningError::InvalidSetting {
                    name: format!("line {}", n + 1),
                    value: k.into(),
                    expected: "one of WSC_FULCIO_PINS, WSC_REKOR_PINS, WSC_TSA_PINS, WSC_OIDC_PINS, WSC_TUF_PINS, WSC_REGISTRY_PINS, WSC_HOST_PINS, WSC_REQUIRE_CERT_PINNING",
                });
            }
            values.insert(k.to_string(), v.to_string());
        }
        self.apply(|name| values.get(name).cloned())
    }

    /// Sets the pins of a service.
    pub fn with_service_pins(mut self, service: Service, pins: Vec<Pin>) -> Self {
        self.services.insert(service, pins);
        self
    }

    /// Adds pins for a host name.
    pub fn with_host_pins(mut self, host: &str, pins: Vec<Pin>) -> Self {
        self.hosts.entry(host.to_ascii_lowercase()).or_default().extend(pins);
        self
    }

    /// Turns strict mode on or off.
    pub fn require_pinning(mut self, require: bool) -> Self {
        self.require = require;
        self
    }

    /// Whether pins are required.
    pub fn required(&self) -> bool {
        self.require
    }

    /// The pins of a service.
    pub fn service_pins(&self, service: Service) -> &[Pin] {
        self.services.get(&service).map_or(&[], Vec::as_slice)
    }

    /// The pins given for a host name.
    pub fn host_pins(&self, host: &str) -> &[Pin] {
        self.hosts.get(&host.to_ascii_lowercase()).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn hosts(&self) -> &BTreeMap<String, Vec<Pin>> {
        &self.hosts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn env_and_file() {
        let env = |name: &str| match name {
            "WSC_FULCIO_PINS" => Some(format!("{A}, {B}")),
            "WSC_REQUIRE_CERT_PINNING" => Some("1".into()),
            _ => None,
        };
        let c = PinningConfig::new().apply(env).expect("valid");
        assert!(c.required());
        assert_eq!(c.service_pins(Service::Fulcio).len(), 2);
        assert!(c.service_pins(Service::Rekor).is_empty());

        let file = format!("# pins\nWSC_REKOR_PINS={A}\nWSC_HOST_PINS=oauth2.example.org={B}\n");
        let c = PinningConfig::new().apply_file(&file).expect("valid");
        assert_eq!(c.service_pins(Service::Rekor), &[A.parse::<Pin>().expect("pin")]);
        assert_eq!(c.host_pins("OAUTH2.example.org").len(), 1);
        assert!(!c.required());
    }

    #[test]
    fn every_service_reads_its_own_variable_from_env_and_file() {
        let variables: std::collections::BTreeSet<&str> = Service::ALL.iter().map(|s| s.variable()).collect();
        assert_eq!(variables.len(), Service::ALL.len(), "one variable per service");
        assert!(variables.contains("WSC_REGISTRY_PINS"));
        for s in Service::ALL {
            let env = PinningConfig::new().apply(|n| (n == s.variable()).then(|| A.to_string())).expect("valid");
            let file = PinningConfig::new().apply_file(&format!("{}={A}\n", s.variable())).expect("valid");
            for c in [env, file] {
                assert_eq!(c.service_pins(s).len(), 1, "{s}");
                let others = Service::ALL.iter().filter(|o| **o != s);
                assert!(others.clone().all(|o| c.service_pins(*o).is_empty()), "{s}");
            }
        }
        assert_eq!(Service::Registry.to_string(), "the OCI registry");
    }

    #[test]
    fn malformed_settings_are_errors() {
        let bad: &[(&str, &str)] = &[
            ("WSC_FULCIO_PINS", "abc"),
            ("WSC_FULCIO_PINS", ""),
            ("WSC_REKOR_PINS", &format!("{A},")),
            ("WSC_REQUIRE_CERT_PINNING", "maybe"),
        ];
        for (k, v) in bad {
            let r = PinningConfig::new().apply(|n| (n == *k).then(|| v.to_string()));
            let e = r.expect_err("must fail");
            assert!(e.to_string().contains(k), "{e}");
        }
        assert!(PinningConfig::new().apply_file("WSC_FULCIO_PIN=x").is_err());
        assert!(PinningConfig::new().apply_file("garbage").is_err());
    }
}
