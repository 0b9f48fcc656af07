//! Go's net: SplitHostPort, JoinHostPort, ports, netip and ParseIP, isDomainName.

use super::*;

/// `net.SplitHostPort`.
pub fn split_host_port(hostport: &[u8]) -> Option<(Bytes, Bytes)> {
    let i = rfind(hostport, b':')?;
    let (host, j, k);
    if hostport[0] == b'[' {
        let end = find(hostport, b']')?;
        if end + 1 == hostport.len() {
            return None; // missing port
        }
        if end + 1 != i {
            return None; // too many colons / missing port
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if find(host, b':').is_some() {
            return None;
        }
        j = 0;
        k = 0;
    }
    if find(&hostport[j..], b'[').is_some() || find(&hostport[k..], b']').is_some() {
        return None;
    }
    Some((host.to_vec(), hostport[i + 1..].to_vec()))
}

/// `net.JoinHostPort`.
pub fn join_host_port(host: &[u8], port: &[u8]) -> Bytes {
    if find(host, b':').is_some() {
        cat(&[b"[", host, b"]:", port])
    } else {
        cat(&[host, b":", port])
    }
}

/// The port a dial uses.
#[derive(Clone, PartialEq, Eq)]
pub enum DialPort {
    Num(u16),
    /// A service name, looked up in /etc/services (Go's built-in table first): any port.
    Service(Bytes),
    /// ICMP has none.
    NoPort,
}

impl std::fmt::Debug for DialPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialPort::Num(p) => write!(f, "{p}"),
            DialPort::Service(s) => write!(f, "service {:?}", String::from_utf8_lossy(s)),
            DialPort::NoPort => write!(f, "(none)"),
        }
    }
}

/// net/port.go `parsePort` and lookup.go `LookupPort`: an optional sign, digits (no
/// limit on leading zeros), else a service name; `None` when out of range or when no
/// service can have that name.
pub fn parse_port(service: &[u8]) -> Option<DialPort> {
    if service.is_empty() {
        return Some(DialPort::Num(0));
    }
    let (neg, digits) = match service[0] {
        b'+' => (false, &service[1..]),
        b'-' => (true, &service[1..]),
        _ => (false, service),
    };
    const MAX: u32 = u32::MAX;
    const CUTOFF: u32 = 1 << 30;
    let mut n: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            // A service name: Go's built-in table, then /etc/services. Names there are
            // letters, digits and "._+-"; anything else fails the dial.
            let name_like = service
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
            return name_like.then(|| DialPort::Service(service.to_vec()));
        }
        if n >= CUTOFF {
            n = MAX;
            break;
        }
        // uint32 arithmetic, as Go's: below the cutoff `n *= 10` can still wrap
        // (429497629 * 10 wraps to 8994), and only the addition is checked.
        n = n.wrapping_mul(10);
        let nn = n.wrapping_add((d - b'0') as u32);
        if nn < n {
            n = MAX;
            break;
        }
        n = nn;
    }
    let mut port: i64 = if !neg && n >= CUTOFF {
        (CUTOFF - 1) as i64
    } else if neg && n > CUTOFF {
        CUTOFF as i64
    } else {
        n as i64
    };
    if neg {
        port = -port;
    }
    if !(0..=65535).contains(&port) {
        return None;
    }
    Some(DialPort::Num(port as u16))
}

/// netip `parseIPv4Fields` over the whole of `s`.
pub(super) fn netip_v4(s: &[u8]) -> Option<[u8; 4]> {
    let mut fields = [0u8; 4];
    let (mut val, mut pos, mut dig_len) = (0u32, 0usize, 0usize);
    for i in 0..s.len() {
        let c = s[i];
        if c.is_ascii_digit() {
            if dig_len == 1 && val == 0 {
                return None; // leading zero
            }
            val = val * 10 + (c - b'0') as u32;
            dig_len += 1;
            if val > 255 {
                return None;
            }
        } else if c == b'.' {
            if i == 0 || i == s.len() - 1 || s[i - 1] == b'.' || pos == 3 {
                return None;
            }
            fields[pos] = val as u8;
            pos += 1;
            val = 0;
            dig_len = 0;
        } else {
            return None;
        }
    }
    if pos < 3 {
        return None;
    }
    fields[3] = val as u8;
    Some(fields)
}

/// netip `parseIPv6`; the zone (after the first '%') must not be empty unless
/// `empty_zone` (Go before 1.22 split at the last '%' and took an empty zone).
pub(super) fn netip_v6(input: &[u8], empty_zone: bool) -> Option<Ipv6Addr> {
    let mut s = input;
    if let Some(i) = find(s, b'%') {
        if i + 1 == s.len() && !empty_zone {
            return None;
        }
        s = &s[..i];
    }
    let mut ip = [0u8; 16];
    let mut ellipsis: i64 = -1;
    if s.len() >= 2 && s[0] == b':' && s[1] == b':' {
        ellipsis = 0;
        s = &s[2..];
        if s.is_empty() {
            return Some(Ipv6Addr::UNSPECIFIED);
        }
    }
    let mut i = 0usize;
    while i < 16 {
        let mut off = 0usize;
        let mut acc: u32 = 0;
        while off < s.len() {
            let c = s[off];
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => break,
            };
            acc = (acc << 4) + v as u32;
            if off > 3 || acc > 0xffff {
                return None;
            }
            off += 1;
        }
        if off == 0 {
            return None;
        }
        if off < s.len() && s[off] == b'.' {
            if ellipsis < 0 && i != 12 {
                return None;
            }
            if i + 4 > 16 {
                return None;
            }
            let v4 = netip_v4(s)?;
            ip[i..i + 4].copy_from_slice(&v4);
            s = b"";
            i += 4;
            break;
        }
        ip[i] = (acc >> 8) as u8;
        ip[i + 1] = acc as u8;
        i += 2;
        s = &s[off..];
        if s.is_empty() {
            break;
        }
        if s[0] != b':' || s.len() == 1 {
            return None;
        }
        s = &s[1..];
        if s[0] == b':' {
            if ellipsis >= 0 {
                return None;
            }
            ellipsis = i as i64;
            s = &s[1..];
            if s.is_empty() {
                break;
            }
        }
    }
    if !s.is_empty() {
        return None;
    }
    if i < 16 {
        if ellipsis < 0 {
            return None;
        }
        let e = ellipsis as usize;
        let n = 16 - i;
        for j in (e..i).rev() {
            ip[j + n] = ip[j];
        }
        for b in &mut ip[e..e + n] {
            *b = 0;
        }
    } else if ellipsis >= 0 {
        return None;
    }
    Some(Ipv6Addr::from(ip))
}

/// `netip.ParseAddr`, the zone dropped.
pub fn netip_parse(s: &[u8], empty_zone: bool) -> Option<IpAddr> {
    for &c in s {
        match c {
            b'.' => return netip_v4(s).map(|f| IpAddr::V4(Ipv4Addr::from(f))),
            b':' => return netip_v6(s, empty_zone).map(IpAddr::V6),
            b'%' => return None,
            _ => {}
        }
    }
    None
}

/// `net.ParseIP` (Go 1.22+: netip without a zone).
pub fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    if find(s, b'%').is_some() {
        return None;
    }
    netip_parse(s, false)
}

/// dnsclient.go `isDomainName`: what the pure Go resolver sends to DNS at all.
pub fn is_domain_name(s: &[u8]) -> bool {
    if s == b"." {
        return true;
    }
    let l = s.len();
    if l == 0 || l > 254 || (l == 254 && s[l - 1] != b'.') {
        return false;
    }
    let mut last = b'.';
    let mut non_numeric = false;
    let mut partlen = 0;
    for &c in s {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                non_numeric = true;
                partlen += 1;
            }
            b'0'..=b'9' => partlen += 1,
            b'-' => {
                if last == b'.' {
                    return false;
                }
                partlen += 1;
                non_numeric = true;
            }
            b'.' => {
                if last == b'.' || last == b'-' {
                    return false;
                }
                if partlen > 63 || partlen == 0 {
                    return false;
                }
                partlen = 0;
            }
            _ => return false,
        }
        last = c;
    }
    if last == b'-' || partlen > 63 {
        return false;
    }
    non_numeric
}
