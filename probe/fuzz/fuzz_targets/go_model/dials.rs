//! What each prober dials for a target, per blackbox release.

use super::*;

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

pub(super) struct Out<'a> {
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
pub(super) fn gate(host: &[u8]) -> Option<bool> {
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
                (
                    t.clone(),
                    if over_tls {
                        b"853".to_vec()
                    } else {
                        b"53".to_vec()
                    },
                )
            });
            if let Some(port) = parse_port(&port) {
                out.dial_host(
                    "dns: SplitHostPort(target) or target:53",
                    &host,
                    port,
                    false,
                );
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

pub(super) fn ascii_prefix_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// http.go ProbeHTTP.
pub(super) fn http(target: &[u8], http3: bool, release: Release, out: &mut Out) {
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
            out.dial_host(
                "http: URL.Hostname() resolved, URL.Port()",
                &host,
                port,
                gate_cgo,
            );
        }
        return;
    }
    // HTTP/3: the URL keeps its host; quic-go dials authorityAddr(URL.Host) itself.
    if url.scheme != b"https" || url.host.is_empty() {
        return;
    }
    let (h2, p2) =
        split_host_port(&url.host).unwrap_or_else(|| (url.host.clone(), b"443".to_vec()));
    let idna = !h2.is_ascii();
    let addr = if starts(&h2, b"[") && h2.ends_with(b"]") {
        cat(&[&h2, b":", &p2])
    } else {
        join_host_port(&h2, &p2)
    };
    let Some((h3, p3)) = split_host_port(&addr) else {
        return;
    };
    let Some(port) = parse_port(&p3) else { return };
    if idna {
        out.push(
            "http3: quic-go authorityAddr(URL.Host) after idna.ToASCII",
            DialHost::IdnaName(h3.clone()),
            port.clone(),
            gate_cgo,
        );
    }
    out.dial_host(
        "http3: quic-go authorityAddr(URL.Host)",
        &h3,
        port,
        gate_cgo,
    );
}

/// grpc.go ProbeGRPC, then grpc.NewClient(host + ":" + port) (0.25: grpc.Dial).
pub(super) fn grpc(target: &[u8], tls: bool, release: Release, out: &mut Out) {
    let t = if starts(target, b"http://") || starts(target, b"https://") {
        target.to_vec()
    } else {
        cat(&[b"http://", target])
    };
    let Some(url) = url_parse(&t) else { return };
    let (host, port) = split_host_port(&url.host).unwrap_or_else(|| (url.host.clone(), Vec::new()));
    let Some(gate_cgo) = gate(&host) else { return };
    let port = if port.is_empty() {
        if tls {
            b"443".to_vec()
        } else {
            b"80".to_vec()
        }
    } else {
        port
    };
    let joined = cat(&[&host, b":", &port]);
    let default_scheme: &[u8] = if release == Release::V025 {
        b"passthrough"
    } else {
        b"dns"
    };
    grpc_new_client(&joined, default_scheme, gate_cgo, out);
}

/// grpc-go: parseTargetAndFindResolver (a registered scheme, else the default scheme:
/// "dns:///" + target for NewClient, "passthrough:///" + target for Dial), then the
/// resolver the scheme names.
pub(super) fn grpc_new_client(target: &[u8], default_scheme: &[u8], gate_cgo: bool, out: &mut Out) {
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
                let Some((h, p)) = dns_parse_target(&parsed.host, b"53") else {
                    return;
                };
                let Some(port) = parse_port(&p) else { return };
                out.dial_host(
                    "grpc: dns resolver authority (a DNS server)",
                    &h,
                    port,
                    gate_cgo,
                );
            }
            let Some((h, p)) = dns_parse_target(&endpoint, b"443") else {
                return;
            };
            let Some(port) = parse_port(&p) else { return };
            if let Some(ip) = parse_ip(&h) {
                out.push(
                    "grpc: dns resolver, formatIP",
                    DialHost::Ip(ip),
                    port,
                    gate_cgo,
                );
            } else {
                out.dial_host("grpc: dns resolver, LookupHost", &h, port, gate_cgo);
            }
        }
        b"passthrough" => {
            // The address is dialled as written: ParseDialTarget, then net.Dial.
            if let Some(rest) = endpoint.strip_prefix(b"unix:") {
                out.push(
                    "grpc: passthrough unix:",
                    DialHost::UnixSocket(rest.to_vec()),
                    DialPort::NoPort,
                    gate_cgo,
                );
                return;
            }
            let Some((h, p)) = split_host_port(&endpoint) else {
                return;
            };
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
pub(super) fn dns_parse_target(target: &[u8], default_port: &[u8]) -> Option<(Bytes, Bytes)> {
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
        let host = if host.is_empty() {
            b"localhost".to_vec()
        } else {
            host
        };
        return Some((host, port));
    }
    split_host_port(&cat(&[target, b":", default_port]))
}

/// websocket.go (main only) with gorilla/websocket's Dialer.
pub(super) fn websocket(target: &[u8], out: &mut Out) {
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
    let Some((_, port)) = split_host_port(&host_port) else {
        return;
    };
    let Some(port) = parse_port(&port) else {
        return;
    };
    out.dial_host(
        "websocket: URL.Hostname() resolved, hostPortNoPort port",
        &host,
        port,
        gate_cgo,
    );
}
