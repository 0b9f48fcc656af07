//! Which addresses blackbox_exporter may reach, as one set of rules. The handler refuses
//! a target early with them (a 403 with the reason); the extension's connect guard
//! applies the same rules to every address blackbox connects or sends to, where the
//! address is certain. Both build them with [`AddressRules::from_environment`] from the same
//! environment, so the two cannot disagree.

mod allow_list;
mod net;
mod special;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use lambda_blackbox_contract::{Environment, ListenAddress, SettingsError, LISTEN_ADDRESS_VAR};

pub use allow_list::AllowEntry;
pub use net::{canonical_ip, IpNet};

pub const ALLOWED_TARGETS_VAR: &str = "BLACKBOX_ALLOWED_TARGETS";
pub const DENY_PRIVATE_VAR: &str = "BLACKBOX_DENY_PRIVATE";
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";
pub const METADATA_API_VAR: &str = "AWS_LAMBDA_METADATA_API";
/// Where the resolver's nameservers are listed; they stay reachable on port 53.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// The port DNS is asked on, over UDP and TCP.
pub const DNS_PORT: u16 = 53;

/// Why an address is refused; shown in a 403 and in the guard's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// In a denied block, or an endpoint of the execution environment: what it is.
    Is(&'static str),
    /// `BLACKBOX_ALLOWED_TARGETS` lists addresses only, and not this one.
    NotListed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Is(what) => f.write_str(what),
            Refusal::NotListed => write!(f, "not in {ALLOWED_TARGETS_VAR}"),
        }
    }
}

/// A listener of the execution environment that no probe may reach, whatever the allow
/// list says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    pub what: &'static str,
}

impl Endpoint {
    /// `port` None is a target without a port: any port may be the endpoint's.
    fn reached_by(&self, ip: IpAddr, port: Option<u16>) -> bool {
        // 127.0.0.2 is 127.0.0.1's socket when it listens on 0.0.0.0, and 0.0.0.0 or ::
        // connect to the local host: for a local endpoint, every local address counts.
        let local = |ip: &IpAddr| ip.is_loopback() || ip.is_unspecified();
        let same_host = self.ip == ip || (local(&self.ip) && local(&ip));
        same_host && port.is_none_or(|port| port == self.port)
    }
}

/// The rules, built once from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRules {
    allowed: Option<Vec<AllowEntry>>,
    deny_private: bool,
    endpoints: Vec<Endpoint>,
    nameservers: Vec<IpAddr>,
}

impl AddressRules {
    pub fn new(
        allowed: Option<Vec<AllowEntry>>,
        deny_private: bool,
        endpoints: Vec<Endpoint>,
        nameservers: Vec<IpAddr>,
    ) -> Self {
        let endpoints = endpoints
            .into_iter()
            .map(|e| Endpoint {
                ip: canonical_ip(e.ip),
                ..e
            })
            .collect();
        let nameservers = nameservers.into_iter().map(canonical_ip).collect();
        Self {
            allowed,
            deny_private,
            endpoints,
            nameservers,
        }
    }

    /// The process environment and `/etc/resolv.conf`.
    pub fn from_env() -> Result<Self, SettingsError> {
        let resolv_conf = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
        Self::from_environment(&Environment::process(), &resolv_conf)
    }

    /// `BLACKBOX_ALLOWED_TARGETS`, `BLACKBOX_DENY_PRIVATE`, the endpoints
    /// (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_METADATA_API`, `BLACKBOX_LISTEN_ADDRESS`) and
    /// the nameservers of `resolv_conf`.
    pub fn from_environment(env: &Environment, resolv_conf: &str) -> Result<Self, SettingsError> {
        let allowed = match env.non_empty(ALLOWED_TARGETS_VAR) {
            Some(list) => Some(
                list.split(',')
                    .map(AllowEntry::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| SettingsError::new(ALLOWED_TARGETS_VAR, e))?,
            ),
            None => None,
        };
        let deny_private = env.flag(DENY_PRIVATE_VAR)?;
        let listen = ListenAddress::from_setting(env.raw(LISTEN_ADDRESS_VAR).as_deref())?;
        let mut endpoints = vec![Endpoint {
            ip: listen.ip(),
            port: listen.port(),
            what: "blackbox_exporter's own listener",
        }];
        for (var, what) in [
            (RUNTIME_API_VAR, "the Lambda Runtime API"),
            (METADATA_API_VAR, "the Lambda metadata API"),
        ] {
            if let Some(value) = env.non_empty(var) {
                let (ip, port) = host_port(&value).ok_or_else(|| {
                    SettingsError::new(var, format!("{value:?} is not host:port"))
                })?;
                endpoints.push(Endpoint { ip, port, what });
            }
        }
        Ok(Self::new(
            allowed,
            deny_private,
            endpoints,
            nameservers(resolv_conf),
        ))
    }

    /// The entries of `BLACKBOX_ALLOWED_TARGETS`, when it is set.
    pub fn allow_list(&self) -> Option<&[AllowEntry]> {
        self.allowed.as_deref()
    }

    /// resolv.conf's nameservers (Go's defaults when it lists none).
    pub fn nameservers(&self) -> &[IpAddr] {
        &self.nameservers
    }

    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The endpoint `ip:port` would reach, if any.
    pub fn endpoint(&self, ip: IpAddr, port: Option<u16>) -> Option<&Endpoint> {
        let ip = canonical_ip(ip);
        self.endpoints.iter().find(|e| e.reached_by(ip, port))
    }

    /// Whether an allow-list entry names this address (and port).
    pub fn listed(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let ip = canonical_ip(ip);
        self.allowed
            .as_ref()
            .is_some_and(|list| list.iter().any(|e| e.matches_ip(ip, port)))
    }

    /// The verdict on one address; `port` None is a target written without a port. In
    /// order: the endpoints are refused; the nameservers on port 53 and the listed
    /// addresses are allowed; with an allow list of addresses only, anything else is
    /// refused; then the default tables (and the private ranges with
    /// `BLACKBOX_DENY_PRIVATE`) refuse what they hold. An allow list that names hosts
    /// cannot be checked on an address (a connection does not say which name it is for):
    /// the address rules alone apply to it.
    pub fn check(&self, ip: IpAddr, port: Option<u16>) -> Result<(), Refusal> {
        let ip = canonical_ip(ip);
        if let Some(endpoint) = self.endpoint(ip, port) {
            return Err(Refusal::Is(endpoint.what));
        }
        if port == Some(DNS_PORT) && self.nameservers.contains(&ip) {
            return Ok(());
        }
        if self.listed(ip, port) {
            return Ok(());
        }
        if let Some(list) = &self.allowed {
            if !list.iter().any(AllowEntry::is_name) {
                return Err(Refusal::NotListed);
            }
        }
        match special::denied_by_default(ip, self.deny_private) {
            Some(rule) => Err(Refusal::Is(rule)),
            None => Ok(()),
        }
    }
}

/// `127.0.0.1:9001` or `[::1]:9001` → the address and port; a host name (Lambda sets
/// addresses there) is taken to be loopback, where Lambda's own APIs listen.
fn host_port(address: &str) -> Option<(IpAddr, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    Some((ip, port))
}

/// The `nameserver` lines of resolv.conf; none means 127.0.0.1 and ::1, as Go's resolver
/// (blackbox's) then asks.
pub fn nameservers(resolv_conf: &str) -> Vec<IpAddr> {
    let listed: Vec<IpAddr> = resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            let address = words.next()?;
            let address = address.split('%').next().unwrap_or(address);
            address.parse().ok()
        })
        .collect();
    if listed.is_empty() {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        listed
    }
}

#[cfg(test)]
mod tests;
