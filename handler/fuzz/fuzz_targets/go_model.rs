//! What blackbox_exporter dials for a probe target, modelled from its Go sources and
//! Go's standard library, and written without looking at the handler's reading of it
//! (handler/src/target_reading.rs): this is the oracle the handler is checked against.
//!
//! Everything works on bytes, as Go strings do. Sources (blackbox at v0.25.0, which the
//! layer pins, v0.28.0 and its main branch, `git show <rev>:prober/<file>`):
//! - prober/handler.go `Handler`: `params.Get("target")`, `params.Get("module")` (default
//!   `http_2xx`); main only: `url.QueryUnescape(target)`, kept when it fails.
//! - prober/utils.go `chooseProtocol`: `net.Resolver.LookupIP[Addr](target)`; a lookup
//!   that fails ends the probe before any dial ([`lookup`]).
//! - prober/http.go `ProbeHTTP`, prober/grpc.go `ProbeGRPC`, prober/tcp.go `dialTCP`,
//!   prober/dns.go `ProbeDNS`, prober/icmp.go `ProbeICMP`, prober/websocket.go (main).
//! - Go: net/url `Parse`, `getScheme`, `parseAuthority`, `parseHost`, `unescape`,
//!   `shouldEscape`, `validUserinfo`, `validOptionalPort`, `URL.Hostname`/`Port`;
//!   net `SplitHostPort`, `JoinHostPort`, `parsePort`/`LookupPort`, `ParseIP`,
//!   `isDomainName` (dnsclient.go), `Resolver.lookupIPAddr` (netip first);
//!   net/netip `ParseAddr` (`parseIPv4Fields`, `parseIPv6`).
//! - grpc-go: clientconn.go `parseTargetAndFindResolver` (NewClient's default scheme
//!   "dns"), resolver.Target.Endpoint, internal/resolver/dns `Build`/`parseTarget`/
//!   `formatIP`, passthrough and unix resolvers, internal/transport `ParseDialTarget`.
//! - quic-go http3 transport.go (`authorityAddr`, `resolveUDPAddr`) for enable_http3;
//!   gorilla/websocket client.go (`hostPortNoPort`, no userinfo) for the websocket prober.
//! - glibc (through FFI): `inet_aton` and `inet_pton(AF_INET6)`, which getaddrinfo applies
//!   to a host before any DNS query when Go hands the lookup to the C library.

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

type Bytes = Vec<u8>;

fn cat(parts: &[&[u8]]) -> Bytes {
    parts.concat()
}

fn starts(s: &[u8], prefix: &[u8]) -> bool {
    s.starts_with(prefix)
}

fn find(s: &[u8], c: u8) -> Option<usize> {
    s.iter().position(|&b| b == c)
}

fn rfind(s: &[u8], c: u8) -> Option<usize> {
    s.iter().rposition(|&b| b == c)
}

fn find_sub(s: &[u8], sub: &[u8]) -> Option<usize> {
    s.windows(sub.len()).position(|w| w == sub)
}

// ---------------------------------------------------------------- net/url

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    UserPassword,
    QueryComponent,
    Fragment,
    Host,
    Zone,
}

fn ishex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// url.go `shouldEscape`, as far as `unescape` asks it (host and zone modes).
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':'
                | b'[' | b']' | b'<' | b'>' | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::QueryComponent => return true,
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

/// url.go `unescape`: `None` where Go returns an error.
fn unescape(s: &[u8], mode: Mode) -> Option<Bytes> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len() || !ishex(s[i + 1]) || !ishex(s[i + 2]) {
                    return None;
                }
                // In a host only non-ASCII bytes may be escaped, and %25 (RFC 6874).
                if mode == Mode::Host && unhex(s[i + 1]) < 8 && &s[i..i + 3] != b"%25" {
                    return None;
                }
                if mode == Mode::Zone {
                    let v = unhex(s[i + 1]) << 4 | unhex(s[i + 2]);
                    if &s[i..i + 3] != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return None;
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode)
                {
                    return None;
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                out.push(unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
                i += 3;
            }
            b'+' if mode == Mode::QueryComponent => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// `url.QueryUnescape`.
pub fn query_unescape(s: &[u8]) -> Option<Bytes> {
    unescape(s, Mode::QueryComponent)
}

/// The parts of a `url.URL` that decide a dial.
#[derive(Debug, Clone, Default)]
pub struct GoUrl {
    /// Lower case, as `parse` leaves it.
    pub scheme: Bytes,
    pub opaque: Bytes,
    /// `URL.User != nil`.
    pub has_user: bool,
    /// `URL.Host`, unescaped.
    pub host: Bytes,
    /// `URL.Path`, unescaped.
    pub path: Bytes,
}

/// url.go `getScheme`: `Err` for a leading ':' ("missing protocol scheme").
fn get_scheme(raw: &[u8]) -> Result<(Bytes, &[u8]), ()> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok((Vec::new(), raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err(());
                }
                return Ok((raw[..i].to_vec(), &raw[i + 1..]));
            }
            _ => return Ok((Vec::new(), raw)),
        }
    }
    Ok((Vec::new(), raw))
}

/// url.go `validOptionalPort`.
fn valid_optional_port(port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit)
}

/// url.go `parseHost`. Go 1.25.2 and later also refuse a bracketed host that is not an
/// IPv6 address; the older, looser reading is kept (it can only add dials).
fn parse_host(host: &[u8]) -> Option<Bytes> {
    if starts(host, b"[") {
        let i = find_sub_last(host, b"]")?;
        if !valid_optional_port(&host[i + 1..]) {
            return None;
        }
        if let Some(zone) = find_sub(&host[..i], b"%25") {
            let host1 = unescape(&host[..zone], Mode::Host)?;
            let host2 = unescape(&host[zone..i], Mode::Zone)?;
            let host3 = unescape(&host[i..], Mode::Host)?;
            return Some(cat(&[&host1, &host2, &host3]));
        }
    } else if let Some(i) = rfind(host, b':') {
        if !valid_optional_port(&host[i..]) {
            return None;
        }
    }
    unescape(host, Mode::Host)
}

fn find_sub_last(s: &[u8], sub: &[u8]) -> Option<usize> {
    s.windows(sub.len()).rposition(|w| w == sub)
}

/// url.go `validUserinfo`: it ranges over runes, so anything not ASCII (or not UTF-8)
/// fails.
fn valid_userinfo(s: &[u8]) -> bool {
    s.iter().all(|&c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'_' | b':' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*'
                    | b'+' | b',' | b';' | b'=' | b'%' | b'@'
            )
    })
}

/// url.go `parseAuthority`: the host after the last '@'.
fn parse_authority(authority: &[u8]) -> Option<(bool, Bytes)> {
    match rfind(authority, b'@') {
        None => Some((false, parse_host(authority)?)),
        Some(i) => {
            let host = parse_host(&authority[i + 1..])?;
            let userinfo = &authority[..i];
            if !valid_userinfo(userinfo) {
                return None;
            }
            match find(userinfo, b':') {
                None => {
                    unescape(userinfo, Mode::UserPassword)?;
                }
                Some(colon) => {
                    unescape(&userinfo[..colon], Mode::UserPassword)?;
                    unescape(&userinfo[colon + 1..], Mode::UserPassword)?;
                }
            }
            Some((true, host))
        }
    }
}

/// url.go `parse(rawURL, viaRequest=false)`.
fn parse(raw: &[u8]) -> Option<GoUrl> {
    if raw.iter().any(|&b| b < b' ' || b == 0x7f) {
        return None;
    }
    let mut url = GoUrl::default();
    if raw == b"*" {
        url.path = b"*".to_vec();
        return Some(url);
    }
    let (scheme, rest) = get_scheme(raw).ok()?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest: &[u8] = if rest.ends_with(b"?") && rest.iter().filter(|&&b| b == b'?').count() == 1
    {
        &rest[..rest.len() - 1]
    } else {
        match find(rest, b'?') {
            Some(q) => &rest[..q],
            None => rest,
        }
    };
    if !starts(rest, b"/") {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_vec();
            return Some(url);
        }
        let segment = match find(rest, b'/') {
            Some(i) => &rest[..i],
            None => rest,
        };
        if find(segment, b':').is_some() {
            return None;
        }
    }
    if (!url.scheme.is_empty() || !starts(rest, b"///")) && starts(rest, b"//") {
        let mut authority = &rest[2..];
        rest = b"";
        if let Some(i) = find(authority, b'/') {
            rest = &authority[i..];
            authority = &authority[..i];
        }
        let (has_user, host) = parse_authority(authority)?;
        url.has_user = has_user;
        url.host = host;
    }
    url.path = unescape(rest, Mode::Path)?;
    Some(url)
}

/// `url.Parse`: the fragment is cut at the first '#' and must unescape.
pub fn url_parse(raw: &[u8]) -> Option<GoUrl> {
    let (u, frag) = match find(raw, b'#') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, &b""[..]),
    };
    let url = parse(u)?;
    if !frag.is_empty() {
        unescape(frag, Mode::Fragment)?;
    }
    Some(url)
}

/// url.go `splitHostPort` (behind `Hostname` and `Port`).
fn url_split_host_port(host_port: &[u8]) -> (&[u8], &[u8]) {
    let mut host = host_port;
    let mut port: &[u8] = b"";
    if let Some(colon) = rfind(host, b':') {
        if valid_optional_port(&host[colon..]) {
            port = &host[colon + 1..];
            host = &host[..colon];
        }
    }
    if starts(host, b"[") && host.ends_with(b"]") {
        host = &host[1..host.len() - 1];
    }
    (host, port)
}

impl GoUrl {
    pub fn hostname(&self) -> &[u8] {
        url_split_host_port(&self.host).0
    }
    pub fn port(&self) -> &[u8] {
        url_split_host_port(&self.host).1
    }
}

// ---------------------------------------------------------------- net

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
fn netip_v4(s: &[u8]) -> Option<[u8; 4]> {
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
fn netip_v6(input: &[u8], empty_zone: bool) -> Option<Ipv6Addr> {
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

// ---------------------------------------------------------------- glibc

extern "C" {
    fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
    fn inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
}

/// glibc's `inet_aton` (it stops at white space).
pub fn glibc_inet_aton(host: &[u8]) -> Option<Ipv4Addr> {
    let c = CString::new(host).ok()?;
    let mut addr = libc::in_addr { s_addr: 0 };
    // SAFETY: `c` is NUL-terminated and `addr` is a valid out pointer.
    let ok = unsafe { inet_aton(c.as_ptr(), &mut addr) };
    (ok != 0).then(|| Ipv4Addr::from(u32::from_be(addr.s_addr)))
}

/// glibc's `inet_pton(AF_INET6)` on what precedes a scope ('%'), as getaddrinfo reads a
/// numeric IPv6 host.
pub fn glibc_inet_pton6(host: &[u8]) -> Option<Ipv6Addr> {
    let address = match find(host, b'%') {
        Some(i) => &host[..i],
        None => host,
    };
    let c = CString::new(address).ok()?;
    let mut out = [0u8; 16];
    // SAFETY: `c` is NUL-terminated and `out` has room for an in6_addr.
    let ok = unsafe { inet_pton(libc::AF_INET6, c.as_ptr(), out.as_mut_ptr().cast()) };
    (ok == 1).then(|| Ipv6Addr::from(out))
}

// ---------------------------------------------------------------- the resolver

/// How `chooseProtocol` (or a later dial's own lookup) resolves a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// An address literal: no DNS. More than one when readers disagree (a union).
    Ips { ips: Vec<IpAddr>, cgo_only: bool },
    /// A name sent to the resolver. `cgo_only`: the pure Go resolver refuses it
    /// (`isDomainName`), only getaddrinfo would ask DNS ([`cgo_resolvable`]).
    Name { name: Bytes, cgo_only: bool },
    Fails,
}

/// A host trimmed of trailing dots and lower-cased: the name the resolver asks for.
pub fn normalise(name: &[u8]) -> Bytes {
    let mut n = name.to_ascii_lowercase();
    while n.last() == Some(&b'.') {
        n.pop();
    }
    n
}

/// `Resolver.lookupIPAddr`: empty fails; netip literals first (Go 1.22+; older Go took
/// an empty zone too); then the C library's numeric forms (inet_aton, inet_pton), which
/// apply where Go hands the lookup to getaddrinfo; else a name.
pub fn lookup(host: &[u8]) -> Lookup {
    if host.is_empty() || host.contains(&0) {
        return Lookup::Fails;
    }
    let mut ips = Vec::new();
    let mut cgo_only = true;
    if let Some(ip) = netip_parse(host, true) {
        ips.push(ip);
        cgo_only = false;
    }
    let normalised = normalise(host);
    for form in [host, &normalised[..]] {
        if let Some(v4) = glibc_inet_aton(form) {
            ips.push(IpAddr::V4(v4));
        }
        if let Some(v6) = glibc_inet_pton6(form) {
            ips.push(IpAddr::V6(v6));
        }
        if let Some(ip) = netip_parse(form, true) {
            ips.push(ip);
        }
    }
    ips.dedup();
    if !ips.is_empty() {
        return Lookup::Ips { ips, cgo_only };
    }
    // "." passes isDomainName, but the root has no address records.
    if normalised.is_empty() {
        return Lookup::Fails;
    }
    if is_domain_name(host) && top_label_can_exist(host) {
        return Lookup::Name {
            name: host.to_vec(),
            cgo_only: false,
        };
    }
    if cgo_resolvable(host) {
        return Lookup::Name {
            name: host.to_vec(),
            cgo_only: true,
        };
    }
    Lookup::Fails
}

/// A name the pure Go resolver refuses that the C library's resolver could still
/// resolve. getaddrinfo sends any name to DNS, but glibc's nss_dns takes an answer only
/// for a name that `res_hnok` / `__res_binary_hnok` accept (dns-host.c): labels of
/// letters, digits, '-' and '_', the first not starting with '-' (glibc 2.34+; older
/// versions also refused a label starting or ending with '-', which this keeps).
/// Go's `isDomainName` refuses more: all-numeric names, labels starting with '-' after
/// the first, labels ending with '-'. The top-level label must be one that can exist
/// (letters, digits, '-', with a letter): no public DNS answers under any other.
pub fn cgo_resolvable(name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let labels: Vec<&[u8]> = name.split(|&b| b == b'.').collect();
    let Some(top) = labels.last() else { return false };
    name.len() <= 253
        && !starts(name, b"-")
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && top.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && top_label_can_exist(name)
}

/// A name of several labels resolves only under a top-level label that can exist, and
/// every top-level domain starts with a letter (IANA: letters, or "xn--"): "0xae.0x" or
/// "1.2.3.4.5" reach no DNS server that answers (inet_aton forms end that way). One
/// label is tried under the resolv.conf search domains and /etc/hosts: kept.
pub fn top_label_can_exist(name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    match rfind(name, b'.') {
        None => true,
        Some(dot) => name.get(dot + 1).is_some_and(u8::is_ascii_alphabetic),
    }
}

// ---------------------------------------------------------------- dials

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The release the layer pins (layer/scripts/blackbox-exporter-bin.sh): like 0.28,
    /// but grpc.Dial (grpc-go 1.63, default scheme "passthrough") and no HTTP/3.
    V025,
    V028,
    Main,
}

impl Release {
    pub const ALL: [Release; 3] = [Release::V025, Release::V028, Release::Main];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoProber {
    Http { http3: bool },
    Grpc { tls: bool },
    Tcp,
    Dns { over_tls: bool },
    Icmp,
    Websocket,
}

impl GoProber {
    pub const ALL: [GoProber; 9] = [
        GoProber::Http { http3: false },
        GoProber::Http { http3: true },
        GoProber::Grpc { tls: false },
        GoProber::Grpc { tls: true },
        GoProber::Tcp,
        GoProber::Dns { over_tls: false },
        GoProber::Dns { over_tls: true },
        GoProber::Icmp,
        GoProber::Websocket,
    ];
}

#[derive(Clone, PartialEq, Eq)]
pub enum DialHost {
    Ip(IpAddr),
    /// A name Go resolves itself (so the handler must have read it).
    Name(Bytes),
    /// quic-go's `idna.ToASCII` of a non-ASCII name: another name than any read.
    IdnaName(Bytes),
    /// A socket path on the function's own host.
    UnixSocket(Bytes),
}

impl std::fmt::Debug for DialHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            DialHost::Ip(ip) => write!(f, "address {ip}"),
            DialHost::Name(n) => write!(f, "name {:?}", lossy(n)),
            DialHost::IdnaName(n) => write!(f, "idna.ToASCII({:?})", lossy(n)),
            DialHost::UnixSocket(p) => write!(f, "unix socket {:?}", lossy(p)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dial {
    pub release: Release,
    pub prober: GoProber,
    /// Where in the Go code the dial comes from.
    pub via: &'static str,
    pub host: DialHost,
    pub port: DialPort,
    /// Only with the C library's resolver (a name the pure Go resolver refuses had to
    /// resolve on the way, or the address is a form only inet_aton/inet_pton read).
    pub cgo_only: bool,
}

struct Out<'a> {
    release: Release,
    prober: GoProber,
    dials: &'a mut Vec<Dial>,
}

impl Out<'_> {
    fn push(&mut self, via: &'static str, host: DialHost, port: DialPort, cgo_only: bool) {
        self.dials.push(Dial {
            release: self.release,
            prober: self.prober,
            via,
            host,
            port,
            cgo_only,
        });
    }

    /// Resolve `host` and dial what it names on `port`.
    fn dial_host(&mut self, via: &'static str, host: &[u8], port: DialPort, gate_cgo: bool) {
        match lookup(host) {
            Lookup::Fails => {}
            Lookup::Ips { ips, cgo_only } => {
                for ip in ips {
                    self.push(via, DialHost::Ip(ip), port.clone(), gate_cgo || cgo_only);
                }
            }
            Lookup::Name { name, cgo_only } => {
                self.push(via, DialHost::Name(name), port, gate_cgo || cgo_only)
            }
        }
    }
}

/// `chooseProtocol(host)` succeeds: `Some(cgo_only)`.
fn gate(host: &[u8]) -> Option<bool> {
    match lookup(host) {
        Lookup::Fails => None,
        Lookup::Ips { cgo_only, .. } | Lookup::Name { cgo_only, .. } => Some(cgo_only),
    }
}

/// The target a prober of `release` is handed: handler.go's value, unescaped once more
/// on main.
pub fn prober_target(target: &[u8], release: Release) -> Bytes {
    match release {
        Release::V025 | Release::V028 => target.to_vec(),
        Release::Main => query_unescape(target).unwrap_or_else(|| target.to_vec()),
    }
}

/// Everything `prober` of `release` dials for the `target` query value.
pub fn dials(target: &[u8], prober: GoProber, release: Release) -> Vec<Dial> {
    let mut dials = Vec::new();
    if target.is_empty() {
        return dials; // "Target parameter is missing"
    }
    let t = prober_target(target, release);
    let mut out = Out {
        release,
        prober,
        dials: &mut dials,
    };
    match prober {
        GoProber::Http { http3 } => http(&t, http3, release, &mut out),
        GoProber::Grpc { tls } => grpc(&t, tls, release, &mut out),
        GoProber::Tcp => {
            // tcp.go dialTCP: SplitHostPort(target) or fail; JoinHostPort(ip, port).
            if let Some((host, port)) = split_host_port(&t) {
                if let Some(port) = parse_port(&port) {
                    out.dial_host("tcp: SplitHostPort(target)", &host, port, false);
                }
            }
        }
        GoProber::Dns { over_tls } => {
            // dns.go: SplitHostPort(target), else the whole target on 53 (853 for DoT).
            let (host, port) = split_host_port(&t).unwrap_or_else(|| {
                (t.clone(), if over_tls { b"853".to_vec() } else { b"53".to_vec() })
            });
            if let Some(port) = parse_port(&port) {
                out.dial_host("dns: SplitHostPort(target) or target:53", &host, port, false);
            }
        }
        GoProber::Icmp => out.dial_host("icmp: the whole target", &t, DialPort::NoPort, false),
        GoProber::Websocket => {
            if release == Release::Main {
                websocket(&t, &mut out);
            }
        }
    }
    dials
}

fn ascii_prefix_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// http.go ProbeHTTP.
fn http(target: &[u8], http3: bool, release: Release, out: &mut Out) {
    if http3 && release == Release::V025 {
        return; // no enable_http3 in 0.25: its config does not load
    }
    let has_scheme = match release {
        Release::V025 | Release::V028 => starts(target, b"http://") || starts(target, b"https://"),
        // main: strings.ToLower(target) has the prefix (no non-ASCII rune lowers into
        // "http://" or "https://", so an ASCII comparison is exact).
        Release::Main => {
            ascii_prefix_ci(target, b"http://") || ascii_prefix_ci(target, b"https://")
        }
    };
    let mut t = if has_scheme {
        target.to_vec()
    } else {
        cat(&[b"http://", target])
    };
    if http3 {
        // 0.28: strings.HasPrefix(target, "http://") after the prefix was added;
        // main: strings.HasPrefix(targetLower, ...) on the target as it came, so a target
        // without a scheme keeps http:// and the HTTP/3 transport refuses it.
        let convert = match release {
            Release::V025 | Release::V028 => starts(&t, b"http://"),
            Release::Main => ascii_prefix_ci(target, b"http://"),
        };
        if convert {
            t = cat(&[b"https://", &t[7..]]);
        }
    }
    let Some(url) = url_parse(&t) else { return };
    let host = url.hostname().to_vec();
    let port = url.port().to_vec();
    let Some(gate_cgo) = gate(&host) else { return };
    if !http3 {
        // The URL's host is replaced by the address chooseProtocol found; the transport
        // dials it on the URL's port or the scheme's.
        let port = if port.is_empty() {
            match url.scheme.as_slice() {
                b"https" => b"443".to_vec(),
                b"http" => b"80".to_vec(),
                _ => return,
            }
        } else {
            port
        };
        if let Some(port) = parse_port(&port) {
            out.dial_host("http: URL.Hostname() resolved, URL.Port()", &host, port, gate_cgo);
        }
        return;
    }
    // HTTP/3: the URL keeps its host; quic-go dials authorityAddr(URL.Host) itself.
    if url.scheme != b"https" || url.host.is_empty() {
        return;
    }
    let (h2, p2) = split_host_port(&url.host).unwrap_or_else(|| (url.host.clone(), b"443".to_vec()));
    let idna = !h2.is_ascii();
    let addr = if starts(&h2, b"[") && h2.ends_with(b"]") {
        cat(&[&h2, b":", &p2])
    } else {
        join_host_port(&h2, &p2)
    };
    let Some((h3, p3)) = split_host_port(&addr) else { return };
    let Some(port) = parse_port(&p3) else { return };
    if idna {
        out.push(
            "http3: quic-go authorityAddr(URL.Host) after idna.ToASCII",
            DialHost::IdnaName(h3.clone()),
            port.clone(),
            gate_cgo,
        );
    }
    out.dial_host("http3: quic-go authorityAddr(URL.Host)", &h3, port, gate_cgo);
}

/// grpc.go ProbeGRPC, then grpc.NewClient(host + ":" + port) (0.25: grpc.Dial).
fn grpc(target: &[u8], tls: bool, release: Release, out: &mut Out) {
    let t = if starts(target, b"http://") || starts(target, b"https://") {
        target.to_vec()
    } else {
        cat(&[b"http://", target])
    };
    let Some(url) = url_parse(&t) else { return };
    let (host, port) = split_host_port(&url.host).unwrap_or_else(|| (url.host.clone(), Vec::new()));
    let Some(gate_cgo) = gate(&host) else { return };
    let port = if port.is_empty() {
        if tls { b"443".to_vec() } else { b"80".to_vec() }
    } else {
        port
    };
    let joined = cat(&[&host, b":", &port]);
    let default_scheme: &[u8] = if release == Release::V025 { b"passthrough" } else { b"dns" };
    grpc_new_client(&joined, default_scheme, gate_cgo, out);
}

/// grpc-go: parseTargetAndFindResolver (a registered scheme, else the default scheme:
/// "dns:///" + target for NewClient, "passthrough:///" + target for Dial), then the
/// resolver the scheme names.
fn grpc_new_client(target: &[u8], default_scheme: &[u8], gate_cgo: bool, out: &mut Out) {
    let registered = |s: &[u8]| matches!(s, b"dns" | b"passthrough" | b"unix" | b"unix-abstract");
    let parsed = match url_parse(target) {
        Some(u) if registered(&u.scheme) => u,
        _ => match url_parse(&cat(&[default_scheme, b":///", target])) {
            Some(u) => u,
            None => return,
        },
    };
    // resolver.Target.Endpoint: Path, else Opaque, one leading '/' trimmed.
    let endpoint = if parsed.path.is_empty() {
        parsed.opaque.clone()
    } else {
        parsed.path.clone()
    };
    let endpoint = endpoint.strip_prefix(b"/").unwrap_or(&endpoint).to_vec();
    match parsed.scheme.as_slice() {
        b"dns" => {
            if !parsed.host.is_empty() {
                // dns://authority/...: the resolver asks that DNS server.
                let Some((h, p)) = dns_parse_target(&parsed.host, b"53") else { return };
                let Some(port) = parse_port(&p) else { return };
                out.dial_host("grpc: dns resolver authority (a DNS server)", &h, port, gate_cgo);
            }
            let Some((h, p)) = dns_parse_target(&endpoint, b"443") else { return };
            let Some(port) = parse_port(&p) else { return };
            if let Some(ip) = parse_ip(&h) {
                out.push("grpc: dns resolver, formatIP", DialHost::Ip(ip), port, gate_cgo);
            } else {
                out.dial_host("grpc: dns resolver, LookupHost", &h, port, gate_cgo);
            }
        }
        b"passthrough" => {
            // The address is dialled as written: ParseDialTarget, then net.Dial.
            if let Some(rest) = endpoint.strip_prefix(b"unix:") {
                out.push("grpc: passthrough unix:", DialHost::UnixSocket(rest.to_vec()), DialPort::NoPort, gate_cgo);
                return;
            }
            let Some((h, p)) = split_host_port(&endpoint) else { return };
            let Some(port) = parse_port(&p) else { return };
            out.dial_host("grpc: passthrough", &h, port, gate_cgo);
        }
        _ => out.push(
            "grpc: unix resolver",
            DialHost::UnixSocket(endpoint),
            DialPort::NoPort,
            gate_cgo,
        ),
    }
}

/// grpc-go internal/resolver/dns `parseTarget`.
fn dns_parse_target(target: &[u8], default_port: &[u8]) -> Option<(Bytes, Bytes)> {
    if target.is_empty() {
        return None;
    }
    if parse_ip(target).is_some() {
        return Some((target.to_vec(), default_port.to_vec()));
    }
    if let Some((host, port)) = split_host_port(target) {
        if port.is_empty() {
            return None; // errEndsWithColon
        }
        let host = if host.is_empty() { b"localhost".to_vec() } else { host };
        return Some((host, port));
    }
    split_host_port(&cat(&[target, b":", default_port]))
}

/// websocket.go (main only) with gorilla/websocket's Dialer.
fn websocket(target: &[u8], out: &mut Out) {
    let Some(url) = url_parse(target) else { return };
    let host = url.hostname().to_vec();
    let Some(gate_cgo) = gate(&host) else { return };
    let tls = match url.scheme.as_slice() {
        b"ws" => false,
        b"wss" => true,
        _ => return,
    };
    if url.has_user {
        return; // errMalformedURL
    }
    // hostPortNoPort: a ':' after the last ']' is a port, else the scheme's.
    let colon = rfind(&url.host, b':').map_or(-1, |i| i as i64);
    let bracket = rfind(&url.host, b']').map_or(-1, |i| i as i64);
    let host_port = if colon > bracket {
        url.host.clone()
    } else {
        cat(&[&url.host, if tls { b":443" } else { b":80" }])
    };
    // NetDialContext: SplitHostPort(addr) for the port, the resolved address for the host.
    let Some((_, port)) = split_host_port(&host_port) else { return };
    let Some(port) = parse_port(&port) else { return };
    out.dial_host("websocket: URL.Hostname() resolved, hostPortNoPort port", &host, port, gate_cgo);
}
