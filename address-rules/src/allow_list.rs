//! `BLACKBOX_ALLOWED_TARGETS`: host names, name suffixes, `*`, IP addresses and CIDR
//! networks, each with an optional port.

use std::net::IpAddr;

use crate::net::{canonical_ip, IpNet};

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
            Pattern::Net(IpNet::host(canonical_ip(ip)))
        } else if host == "*" {
            Pattern::AnyName
        } else if let Some(suffix) = host.strip_prefix("*.") {
            Pattern::Suffix(valid_name(suffix, entry)?)
        } else {
            Pattern::Name(valid_name(&host, entry)?)
        };
        Ok(Self { pattern, port })
    }

    /// Whether the entry names hosts rather than addresses.
    pub fn is_name(&self) -> bool {
        !matches!(self.pattern, Pattern::Net(_))
    }

    /// A port-less target (`port` None) matches only an entry without a port.
    fn port_matches(&self, port: Option<u16>) -> bool {
        match self.port {
            None => true,
            Some(want) => port == Some(want),
        }
    }

    pub fn matches_name(&self, name: &str, port: Option<u16>) -> bool {
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

    pub fn matches_ip(&self, ip: IpAddr, port: Option<u16>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_names_and_addresses_with_their_ports() {
        let e = |s: &str| AllowEntry::parse(s).unwrap();
        assert!(e("*.example.com").matches_name("www.example.com", Some(443)));
        assert!(!e("*.example.com").matches_name("example.com", None));
        assert!(!e("*.example.com").matches_name("wwwexample.com", None));
        assert!(e("example.com:443").matches_name("example.com", Some(443)));
        assert!(!e("example.com:443").matches_name("example.com", None));
        assert!(e("*").matches_name("anything.test", Some(1)));
        assert!(e("10.0.0.0/8").matches_ip("10.9.9.9".parse().unwrap(), Some(22)));
        assert!(e("[::ffff:10.0.0.1]").matches_ip("10.0.0.1".parse().unwrap(), None));
        assert!(e("[2001:db8::/32]:443").matches_ip("2001:db8::1".parse().unwrap(), Some(443)));
        assert!(!e("[2001:db8::/32]:443").matches_ip("2001:db8::1".parse().unwrap(), Some(80)));
        assert!(e("2001:db8::1").matches_ip("2001:db8::1".parse().unwrap(), Some(80)));
        assert!(e("*").is_name() && !e("127.0.0.1:8080").is_name());
    }

    #[test]
    fn a_bad_entry_is_named_in_its_error() {
        let cases = [
            ("", "an entry is empty"),
            ("10.0.0.0/33", "\"10.0.0.0/33\" is not a valid CIDR network"),
            (
                "example.com:http",
                "\"example.com:http\" has a port that is not a number from 0 to 65535",
            ),
            (
                "exa mple.com",
                "\"exa mple.com\" is not a host name, IP address or CIDR network",
            ),
            ("[::1", "\"[::1\" has an unclosed ["),
            ("[::1]x", "\"[::1]x\" is malformed after ]"),
        ];
        for (entry, error) in cases {
            assert_eq!(AllowEntry::parse(entry).unwrap_err(), error, "{entry}");
        }
    }
}
