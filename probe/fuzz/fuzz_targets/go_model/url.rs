//! Go's net/url, byte for byte.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Path,
    UserPassword,
    QueryComponent,
    Fragment,
    Host,
    Zone,
}

pub(super) fn ishex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

pub(super) fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// url.go `shouldEscape`, as far as `unescape` asks it (host and zone modes).
pub(super) fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
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
pub(super) fn unescape(s: &[u8], mode: Mode) -> Option<Bytes> {
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
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
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
pub(super) fn get_scheme(raw: &[u8]) -> Result<(Bytes, &[u8]), ()> {
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
pub(super) fn valid_optional_port(port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit)
}

/// url.go `parseHost`. Go 1.25.2 and later also refuse a bracketed host that is not an
/// IPv6 address; the older, looser reading is kept (it can only add dials).
pub(super) fn parse_host(host: &[u8]) -> Option<Bytes> {
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

pub(super) fn find_sub_last(s: &[u8], sub: &[u8]) -> Option<usize> {
    s.windows(sub.len()).rposition(|w| w == sub)
}

/// url.go `validUserinfo`: it ranges over runes, so anything not ASCII (or not UTF-8)
/// fails.
pub(super) fn valid_userinfo(s: &[u8]) -> bool {
    s.iter().all(|&c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b':'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'@'
            )
    })
}

/// url.go `parseAuthority`: the host after the last '@'.
pub(super) fn parse_authority(authority: &[u8]) -> Option<(bool, Bytes)> {
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
pub(super) fn parse(raw: &[u8]) -> Option<GoUrl> {
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
    let mut rest: &[u8] =
        if rest.ends_with(b"?") && rest.iter().filter(|&&b| b == b'?').count() == 1 {
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
pub(super) fn url_split_host_port(host_port: &[u8]) -> (&[u8], &[u8]) {
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
