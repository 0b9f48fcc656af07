//! Which targets a probe may reach. blackbox_exporter probes whatever it is asked to;
//! behind a public Function URL that would let anyone reach the Runtime API and every
//! other loopback service of the execution environment. This decides on the target
//! as blackbox will read it, and again on every address its host name resolves to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A target's host and port as blackbox will use them, whatever the prober.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHost {
    /// A lowercased host name without trailing dots, or an IP address in canonical form.
    pub host: Host,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the target is empty")]
    Empty,
    #[error("the target's host is malformed")]
    Malformed,
    #[error("the target's port is not a number from 0 to 65535")]
    BadPort,
}

/// Reads the host of a target as blackbox's probers will: the http and grpc probers add
/// `http://` unless the target starts, exactly, with `http://` or `https://`, and take the
/// host from the authority (after the last `@`, before the first `/`, `?` or `#`, its
/// percent-escapes decoded); the tcp, dns and icmp probers take a bare `host:port`,
/// `[v6]:port` or host. What could name a different host to one prober than to another is
/// refused rather than guessed at.
pub fn parse_target(target: &str) -> Result<TargetHost, TargetError> {
    if target.is_empty() {
        return Err(TargetError::Empty);
    }
    // Go never trims; whitespace, control characters and backslashes make no valid host
    // for any prober, but could split differently here and there.
    if target
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(TargetError::Malformed);
    }
    let (rest, default_port) = if let Some(rest) = target.strip_prefix("http://") {
        (rest, Some(80))
    } else if let Some(rest) = target.strip_prefix("https://") {
        (rest, Some(443))
    } else {
        // Without a scheme the tcp and dns probers split the whole target at its last ':',
        // so `example.com/x@127.0.0.1:9001` would name 127.0.0.1 to them.
        if target.contains(['@', '%']) {
            return Err(TargetError::Malformed);
        }
        (target, None)
    };
    // The authority ends at the first '/', '?' or '#'; userinfo ends at its last '@'.
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let authority = percent_decode(authority).ok_or(TargetError::Malformed)?;
    let (host, port) = split_host_port(&authority)?;
    Ok(TargetHost {
        host: normalise_host(host)?,
        port: port.or(default_port),
    })
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), TargetError> {
    let parse_port = |p: &str| -> Result<Option<u16>, TargetError> {
        if p.is_empty() {
            return Ok(None);
        }
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TargetError::BadPort);
        }
        p.parse().map(Some).map_err(|_| TargetError::BadPort)
    };
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(TargetError::Malformed)?;
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(port) => Ok((host, parse_port(port)?)),
                None => Err(TargetError::Malformed),
            },
        };
    }
    match authority.matches(':').count() {
        0 => Ok((authority, None)),
        1 => {
            let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
            Ok((host, parse_port(port)?))
        }
        // A bare IPv6 address (dns and icmp probers take these).
        _ => Ok((authority, None)),
    }
}

fn normalise_host(host: &str) -> Result<Host, TargetError> {
    // A zone identifier (fe80::1%eth0) does not change which IPv6 address is meant; in
    // any other host a '%' is refused below.
    let host = match host.split_once('%') {
        Some((address, _zone)) if address.contains(':') => address,
        _ => host,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(TargetError::Empty);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Host::Ip(canonical_ip(ip)));
    }
    if let Some(v4) = parse_inet_aton(&host) {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    // What is left must be a host name; anything else (a second scheme, an encoded
    // URL inside the host) is refused rather than guessed at.
    if !host
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(TargetError::Malformed);
    }
    Ok(Host::Name(host))
}

/// An IPv6 address that carries an IPv4 address (mapped, compatible, NAT64) is judged
/// as that IPv4 address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // ::a.b.c.d (compatible, deprecated but still routed by some stacks); not ::, ::1
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

/// IPv4 in every form the C library's inet_aton takes: 1 to 4 parts, each decimal,
/// octal (leading 0) or hex (0x), the last part filling the remaining bytes
/// (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`). blackbox resolves through the
/// system resolver, which reads these as addresses.
pub fn parse_inet_aton(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(parse_aton_part(part)?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|v| *v > 0xff) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if room < 32 && *last >= 1u64 << room {
        return None;
    }
    if room == 32 && *last > u32::MAX as u64 {
        return None;
    }
    let mut value: u32 = 0;
    for (i, v) in leading.iter().enumerate() {
        value |= (*v as u32) << (24 - 8 * i as u32);
    }
    value |= *last as u32;
    Some(Ipv4Addr::from(value))
}

fn parse_aton_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // "0x" alone is 0 to inet_aton.
        return (radix == 16).then_some(0);
    }
    // Only digits of the radix: from_str_radix would also take a sign.
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Leading zeros do not count towards the length, as to glibc.
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Decodes %XX escapes (and `+` as a space when `plus_is_space`, as in a query), or
/// `None` for an escape that is not `%` and two hex digits: Go refuses those, and a decoder
/// that read them differently would judge a different target than blackbox probes.
pub(crate) fn percent_decode_bytes(s: &str, plus_is_space: bool) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let digit = |b: u8| (b as char).to_digit(16);
                out.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    String::from_utf8(percent_decode_bytes(s, false)?).ok()
}

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

impl std::fmt::Display for TargetHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.host, self.port) {
            (Host::Name(n), None) => write!(f, "{n}"),
            (Host::Name(n), Some(p)) => write!(f, "{n}:{p}"),
            (Host::Ip(IpAddr::V6(ip)), None) => write!(f, "[{ip}]"),
            (Host::Ip(ip), None) => write!(f, "{ip}"),
            (Host::Ip(IpAddr::V6(ip)), Some(p)) => write!(f, "[{ip}]:{p}"),
            (Host::Ip(ip), Some(p)) => write!(f, "{ip}:{p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap())
    }

    #[test]
    fn targets_in_every_prober_form_give_their_host() {
        let cases: &[(&str, Host, Option<u16>)] = &[
            (
                "http://example.com/",
                Host::Name("example.com".into()),
                Some(80),
            ),
            (
                "https://Example.COM.:8443/x?y#z",
                Host::Name("example.com".into()),
                Some(8443),
            ),
            ("example.com", Host::Name("example.com".into()), None),
            (
                "example.com:443",
                Host::Name("example.com".into()),
                Some(443),
            ),
            ("http://good.example@127.0.0.1/", ip("127.0.0.1"), Some(80)),
            ("http://a@b@127.0.0.1:9001/", ip("127.0.0.1"), Some(9001)),
            (
                "127.0.0.1:9001/2018-06-01/runtime/invocation/next",
                ip("127.0.0.1"),
                Some(9001),
            ),
            ("http://2130706433/", ip("127.0.0.1"), Some(80)),
            ("0x7f.1:9001", ip("127.0.0.1"), Some(9001)),
            ("0177.0.0.1", ip("127.0.0.1"), None),
            ("127.1", ip("127.0.0.1"), None),
            ("http://[::1]:9115/", ip("::1"), Some(9115)),
            ("[::ffff:127.0.0.1]:80", ip("127.0.0.1"), Some(80)),
            ("[::ffff:7f00:1]", ip("127.0.0.1"), None),
            ("[64:ff9b::7f00:1]", ip("127.0.0.1"), None),
            ("::1", ip("::1"), None),
            ("http://127.0.0.%31/", ip("127.0.0.1"), Some(80)),
            ("HTTP://127.0.0.1/", Host::Name("http".into()), None),
            (
                "127.0.0.1:9001/x?a=://example.com",
                ip("127.0.0.1"),
                Some(9001),
            ),
            (
                "localhost://example.com",
                Host::Name("localhost".into()),
                None,
            ),
            (
                "169.254.169.254/latest/meta-data/#://example.com",
                ip("169.254.169.254"),
                None,
            ),
            ("http://[fe80::1%25eth0]:80/", ip("fe80::1"), Some(80)),
            (
                "https://%6c%6fcalhost/",
                Host::Name("localhost".into()),
                Some(443),
            ),
            ("localhost.", Host::Name("localhost".into()), None),
            ("8.8.8.8:53", ip("8.8.8.8"), Some(53)),
        ];
        for (target, host, port) in cases {
            let parsed = parse_target(target).unwrap_or_else(|e| panic!("{target}: {e}"));
            assert_eq!(&parsed.host, host, "{target}");
            assert_eq!(parsed.port, *port, "{target}");
        }
    }

    #[test]
    fn malformed_targets_are_errors() {
        let cases: &[(&str, TargetError)] = &[
            ("", TargetError::Empty),
            ("http:///path", TargetError::Empty),
            ("http://host:port/", TargetError::BadPort),
            ("host:99999", TargetError::BadPort),
            ("[::1", TargetError::Malformed),
            ("[::1]x", TargetError::Malformed),
            ("http://%zz/", TargetError::Malformed),
            ("http://%+9example.com/", TargetError::Malformed),
            ("http://%-1example.com/", TargetError::Malformed),
            ("http://a b/", TargetError::Malformed),
            (" 127.0.0.1", TargetError::Malformed),
            ("example.com/x@127.0.0.1:9001", TargetError::Malformed),
            ("[fe80::1%25eth0]:80", TargetError::Malformed),
            ("http://a%25b/", TargetError::Malformed),
            ("http%3A%2F%2F127.0.0.1%3A9001%2F", TargetError::Malformed),
            ("http://a\\b/", TargetError::Malformed),
        ];
        for (target, want) in cases {
            assert_eq!(parse_target(target), Err(want.clone()), "{target:?}");
        }
    }

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

    fn verdict(policy: &TargetPolicy, target: &str, resolved: &[&str]) -> Result<(), Denied> {
        let target = parse_target(target).unwrap();
        policy.check(&target)?;
        let resolved: Vec<IpAddr> = resolved.iter().map(|ip| ip.parse().unwrap()).collect();
        policy.check_resolved(&target, &resolved)
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

    #[test]
    fn inet_aton_forms() {
        let cases = [
            ("1.2.3.4", Some("1.2.3.4")),
            ("2130706433", Some("127.0.0.1")),
            ("0x7f000001", Some("127.0.0.1")),
            ("127.1", Some("127.0.0.1")),
            ("127.0.1", Some("127.0.0.1")),
            ("0x7f.0.0.0x1", Some("127.0.0.1")),
            ("017700000001", Some("127.0.0.1")),
            ("0", Some("0.0.0.0")),
            ("256.1.1.1", None),
            ("1.2.3.4.5", None),
            ("4294967296", None),
            ("1.2.65536", None),
            ("09.1.1.1", None),
            ("0000000000000177.1", Some("127.0.0.1")),
            ("+127.0.0.1", None),
            ("0x+7f.1", None),
            ("example", None),
            ("1..1", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_inet_aton(input),
                want.map(|w| w.parse().unwrap()),
                "{input}"
            );
        }
    }
}
