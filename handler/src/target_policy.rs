//! Which targets a probe may reach. blackbox_exporter probes whatever it is asked to;
//! behind a public Function URL that would let anyone reach the Runtime API and every
//! other loopback service of the execution environment. This decides on the target
//! as blackbox will read it, and again on every address its host name resolves to.

use std::net::{IpAddr, Ipv4Addr};

use crate::target_reading::{canonical_ip, Host, Reading, TargetHost};

/// An IP network, `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = s.split_once('/')?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        Self::new(addr.parse().ok()?, prefix.parse().ok()?)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn net(s: &str) -> IpNet {
    IpNet::parse(s).unwrap_or(IpNet {
        addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        prefix: 32,
    })
}

/// Never probed unless `BLACKBOX_ALLOWED_TARGETS` lists them: the execution
/// environment's own loopback services, link-local metadata endpoints, and addresses
/// that mean "this host".
fn default_denied() -> Vec<(IpNet, &'static str)> {
    vec![
        (net("127.0.0.0/8"), "loopback"),
        (net("::1/128"), "loopback"),
        (net("0.0.0.0/8"), "unspecified"),
        (net("::/128"), "unspecified"),
        (net("169.254.0.0/16"), "link-local"),
        (net("fe80::/10"), "link-local"),
        (net("fd00:ec2::254/128"), "the EC2 metadata endpoint"),
        (net("224.0.0.0/4"), "multicast"),
        (net("ff00::/8"), "multicast"),
        (net("255.255.255.255/32"), "broadcast"),
    ]
}

/// Denied too with `BLACKBOX_DENY_PRIVATE=true`; allowed by default because a function in
/// a VPC probes private services.
fn private_ranges() -> Vec<(IpNet, &'static str)> {
    vec![
        (net("10.0.0.0/8"), "a private range"),
        (net("172.16.0.0/12"), "a private range"),
        (net("192.168.0.0/16"), "a private range"),
        (net("100.64.0.0/10"), "a shared (CGNAT) range"),
        (net("fc00::/7"), "a unique local range"),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`: any host name (addresses still need an address entry).
    AnyName,
    Name(String),
    /// `*.example.com`: any name below example.com, not example.com itself.
    Suffix(String),
    Net(IpNet),
}

/// One entry of `BLACKBOX_ALLOWED_TARGETS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pattern: Pattern,
    port: Option<u16>,
}

impl AllowEntry {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("an entry is empty".into());
        }
        // host[:port], [v6][:port], cidr[:port]; a bare IPv6 address or network has no port.
        let (host, port) = if let Some(inner) = entry.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| format!("{entry:?} has an unclosed ["))?;
            match after {
                "" => (host.to_string(), None),
                a if a.starts_with('/') => {
                    let (prefix, port) = match a[1..].split_once(':') {
                        Some((p, port)) => (p, Some(port)),
                        None => (&a[1..], None),
                    };
                    (format!("{host}/{prefix}"), port)
                }
                a => match a.strip_prefix(':') {
                    Some(port) => (host.to_string(), Some(port)),
                    None => return Err(format!("{entry:?} is malformed after ]")),
                },
            }
        } else if entry.matches(':').count() == 1 {
            let (host, port) = entry.split_once(':').unwrap_or((entry, ""));
            (host.to_string(), Some(port))
        } else {
            (entry.to_string(), None)
        };
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| {
                format!("{entry:?} has a port that is not a number from 0 to 65535")
            })?),
        };
        let pattern = if host.contains('/') {
            Pattern::Net(
                IpNet::parse(&host)
                    .ok_or_else(|| format!("{entry:?} is not a valid CIDR network"))?,
            )
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            let ip = canonical_ip(ip);
            Pattern::Net(IpNet {
                addr: ip,
                prefix: if ip.is_ipv4() { 32 } else { 128 },
            })
        } else if host == "*" {
            Pattern::AnyName
        } else if let Some(suffix) = host.strip_prefix("*.") {
            Pattern::Suffix(valid_name(suffix, entry)?)
        } else {
            Pattern::Name(valid_name(&host, entry)?)
        };
        Ok(Self { pattern, port })
    }

    fn port_matches(&self, port: Option<u16>) -> bool {
        match self.port {
            None => true,
            Some(want) => port == Some(want),
        }
    }

    fn matches_name(&self, name: &str, port: Option<u16>) -> bool {
        let name_matches = match &self.pattern {
            Pattern::AnyName => true,
            Pattern::Name(n) => n == name,
            Pattern::Suffix(s) => {
                name.len() > s.len() + 1
                    && name.ends_with(s.as_str())
                    && name[..name.len() - s.len()].ends_with('.')
            }
            Pattern::Net(_) => false,
        };
        name_matches && self.port_matches(port)
    }

    fn matches_ip(&self, ip: IpAddr, port: Option<u16>) -> bool {
        matches!(&self.pattern, Pattern::Net(n) if n.contains(ip)) && self.port_matches(port)
    }
}

fn valid_name(name: &str, entry: &str) -> Result<String, String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "{entry:?} is not a host name, IP address or CIDR network"
        ))
    }
}

/// Why a target was refused; the text goes into the 403 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("target {0} is not allowed: it is {1}")]
    Reserved(String, &'static str),
    #[error("target {0} is not in BLACKBOX_ALLOWED_TARGETS")]
    NotListed(String),
    #[error("target {0} resolves to {1}, which is {2}")]
    ResolvesToReserved(String, IpAddr, &'static str),
    #[error("target {0} resolves to {1}, which is not in BLACKBOX_ALLOWED_TARGETS")]
    ResolvesToUnlisted(String, IpAddr),
}

/// The rules a target is checked against, built once from the settings.
#[derive(Debug, Clone)]
pub struct TargetPolicy {
    allowed: Option<Vec<AllowEntry>>,
    denied: Vec<(IpNet, &'static str)>,
    /// The Runtime API and blackbox's own listener: refused whatever the list says.
    always_denied: Vec<(IpAddr, u16, &'static str)>,
}

impl TargetPolicy {
    pub fn new(
        allowed: Option<Vec<AllowEntry>>,
        deny_private: bool,
        always_denied: Vec<(IpAddr, u16, &'static str)>,
    ) -> Self {
        let mut denied = default_denied();
        if deny_private {
            denied.extend(private_ranges());
        }
        let always_denied = always_denied
            .into_iter()
            .map(|(ip, port, why)| (canonical_ip(ip), port, why))
            .collect();
        Self {
            allowed,
            denied,
            always_denied,
        }
    }

    /// The check on the target as written. `Ok(Some(name))` means the host is a name
    /// whose addresses must be checked with [`TargetPolicy::check_resolved`] too.
    pub fn check(&self, target: &TargetHost) -> Result<Option<String>, Denied> {
        let shown = target.to_string();
        match &target.host {
            Host::Ip(ip) => self.check_ip(*ip, target.port, &shown).map(|()| None),
            Host::Name(name) => {
                if name == "localhost" || name.ends_with(".localhost") {
                    let listed = self
                        .allowed
                        .as_ref()
                        .is_some_and(|list| list.iter().any(|e| e.matches_name(name, target.port)));
                    if !listed {
                        return Err(Denied::Reserved(shown, "loopback"));
                    }
                }
                if let Some(list) = &self.allowed {
                    if !list.iter().any(|e| e.matches_name(name, target.port)) {
                        return Err(Denied::NotListed(shown));
                    }
                }
                Ok(Some(name.clone()))
            }
        }
    }

    /// [`TargetPolicy::check`] on every reading of a target: refused if any is. The names
    /// among them still need [`TargetPolicy::check_resolved`].
    pub fn check_readings(&self, readings: &[Reading]) -> Result<(), Denied> {
        readings
            .iter()
            .try_for_each(|reading| self.check(&reading.dials).map(drop))
    }

    /// The check on every address a host name resolved to. A listed name does not make
    /// its addresses listed: a name that resolves to loopback stays refused unless the
    /// address itself is listed.
    pub fn check_resolved(&self, target: &TargetHost, addresses: &[IpAddr]) -> Result<(), Denied> {
        for ip in addresses {
            let ip = canonical_ip(*ip);
            let shown = target.to_string();
            if let Some((_, _, why)) = self.always_denied_match(ip, target.port) {
                return Err(Denied::ResolvesToReserved(shown, ip, why));
            }
            let listed = self
                .allowed
                .as_ref()
                .is_some_and(|list| list.iter().any(|e| e.matches_ip(ip, target.port)));
            if listed {
                continue;
            }
            if let Some((_, why)) = self.denied.iter().find(|(net, _)| net.contains(ip)) {
                return Err(Denied::ResolvesToReserved(shown, ip, why));
            }
        }
        Ok(())
    }

    fn always_denied_match(
        &self,
        ip: IpAddr,
        port: Option<u16>,
    ) -> Option<&(IpAddr, u16, &'static str)> {
        self.always_denied.iter().find(|(addr, p, _)| {
            // Loopback aliases reach the same listener: 127.0.0.2 is 127.0.0.1's socket
            // when it listens on 0.0.0.0, so the whole loopback range counts.
            // And 0.0.0.0 / :: connect to the local host, loopback included.
            let local = |ip: &IpAddr| ip.is_loopback() || ip.is_unspecified();
            let same_host = *addr == ip || (local(addr) && local(&ip));
            same_host && port.is_none_or(|port| port == *p)
        })
    }

    fn check_ip(&self, ip: IpAddr, port: Option<u16>, shown: &str) -> Result<(), Denied> {
        if let Some((_, _, why)) = self.always_denied_match(ip, port) {
            return Err(Denied::Reserved(shown.to_string(), why));
        }
        match &self.allowed {
            Some(list) => {
                if list.iter().any(|e| e.matches_ip(ip, port)) {
                    Ok(())
                } else {
                    Err(Denied::NotListed(shown.to_string()))
                }
            }
            None => match self.denied.iter().find(|(net, _)| net.contains(ip)) {
                Some((_, why)) => Err(Denied::Reserved(shown.to_string(), why)),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_reading::{read_target, Prober};

    fn policy(allowed: Option<&str>) -> TargetPolicy {
        let allowed = allowed.map(|list| {
            list.split(',')
                .map(|e| AllowEntry::parse(e).unwrap())
                .collect()
        });
        TargetPolicy::new(
            allowed,
            false,
            vec![
                ("127.0.0.1".parse().unwrap(), 9001, "the Lambda Runtime API"),
                (
                    "127.0.0.1".parse().unwrap(),
                    9115,
                    "blackbox_exporter's own listener",
                ),
            ],
        )
    }

    /// Read as the http and tcp probers do, which covers both forms in the table.
    fn verdict(policy: &TargetPolicy, target: &str, resolved: &[&str]) -> Result<(), Denied> {
        let probers = [Prober::Http { http3: false }, Prober::Tcp];
        let readings = read_target(target, &probers).unwrap();
        policy.check_readings(&readings)?;
        let resolved: Vec<IpAddr> = resolved.iter().map(|ip| ip.parse().unwrap()).collect();
        readings
            .iter()
            .filter(|r| matches!(r.dials.host, Host::Name(_)))
            .try_for_each(|r| policy.check_resolved(&r.dials, &resolved))
    }

    #[test]
    fn policies_decide_on_the_target_and_on_what_it_resolves_to() {
        let default = policy(None);
        let local_run = policy(Some("*,0.0.0.0/0,::/0"));
        let listed = policy(Some(
            "*.example.com:443,192.0.2.0/24,127.0.0.1:8080,[2001:db8::/32]:443,[2001:db8:1::5]",
        ));
        let cases: &[(&TargetPolicy, &str, &[&str], bool)] = &[
            (&default, "https://example.com/", &["93.184.215.14"], true),
            (
                &default,
                "https://example.com/",
                &["93.184.215.14", "127.0.0.1"],
                false,
            ),
            (
                &default,
                "https://rebind.example/",
                &["::ffff:169.254.169.254"],
                false,
            ),
            (&default, "10.1.2.3:22", &[], true),
            (&default, "127.0.0.1:8080", &[], false),
            (&local_run, "127.0.0.1:8080", &[], true),
            (&local_run, "localhost:8080", &["127.0.0.1"], true),
            (&local_run, "127.0.0.1:9001", &[], false),
            (&local_run, "127.0.0.5:9115", &[], false),
            (&local_run, "http://[::1]:9001/", &[], false),
            (&local_run, "localhost:9001", &["127.0.0.1"], false),
            (&local_run, "0.0.0.0:9001", &[], false),
            (&local_run, "0:9115", &[], false),
            (&local_run, "[::ffff:0.0.0.0]:9001", &[], false),
            (&local_run, "[::]:9001", &[], false),
            (
                &listed,
                "https://www.example.com/",
                &["93.184.215.14"],
                true,
            ),
            (&listed, "https://www.example.com/", &["127.0.0.1"], false),
            (
                &listed,
                "http://www.example.com/",
                &["93.184.215.14"],
                false,
            ),
            (&listed, "https://example.com/", &["93.184.215.14"], false),
            (&listed, "192.0.2.9:25", &[], true),
            (&listed, "127.0.0.1:8080", &[], true),
            (&listed, "127.0.0.1:8081", &[], false),
            (&listed, "https://[2001:db8:ff::1]/", &[], true),
            (&listed, "http://[2001:db8:ff::1]/", &[], false),
            (&listed, "[2001:db8:1::5]:22", &[], true),
            (&listed, "[2001:db9::1]:443", &[], false),
        ];
        for (policy, target, resolved, allowed) in cases {
            let got = verdict(policy, target, resolved);
            assert_eq!(got.is_ok(), *allowed, "{target} {resolved:?}: {got:?}");
        }
    }
}
