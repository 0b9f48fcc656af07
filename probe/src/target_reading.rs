//! How blackbox_exporter's probers read a target: the host and port each one dials, as
//! its Go code does (prober/http.go, grpc.go, tcp.go, dns.go, icmp.go, websocket.go with
//! Go's `net/url`, `net.SplitHostPort` and grpc-go's target parsing). What may be dialled
//! is decided in `target_policy`; this only reads.
//!
//! Where a reading depends on a blackbox release, every reading is returned: 0.28 takes the
//! target as Go's query parser left it and adds `http://` unless it starts exactly with
//! `http://` or `https://`; its main branch unescapes the target once more and compares
//! the scheme without case.

use std::net::IpAddr;

pub use go_url::go_split_host_port;
use go_url::{go_scheme, GoUrl};
pub use go_url::{query_params, query_unescape};
pub use host_forms::{canonical_ip, normalise_host, parse_inet_aton};

mod go_url;
mod host_forms;
#[cfg(test)]
mod tests;

/// The prober a module names, with the settings that change what it dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prober {
    Http { http3: bool },
    Grpc { tls: bool },
    Tcp,
    Dns { over_tls: bool },
    Icmp,
    Websocket,
    Unix,
}

impl Prober {
    /// Every network prober in every setting: what a module may use whose prober cannot
    /// be told (not in the file, or written in YAML the handler does not follow).
    pub const ANY_NETWORK: [Prober; 9] = [
        Prober::Http { http3: false },
        Prober::Http { http3: true },
        Prober::Grpc { tls: false },
        Prober::Grpc { tls: true },
        Prober::Tcp,
        Prober::Dns { over_tls: false },
        Prober::Dns { over_tls: true },
        Prober::Icmp,
        Prober::Websocket,
    ];

    /// Every prober in every setting, unix included.
    pub const ALL: [Prober; 10] = {
        let mut all = [Prober::Unix; 10];
        let mut i = 0;
        while i < Prober::ANY_NETWORK.len() {
            all[i] = Prober::ANY_NETWORK[i];
            i += 1;
        }
        all
    };

    pub fn name(self) -> &'static str {
        match self {
            Prober::Http { .. } => "http",
            Prober::Grpc { .. } => "grpc",
            Prober::Tcp => "tcp",
            Prober::Dns { .. } => "dns",
            Prober::Icmp => "icmp",
            Prober::Websocket => "websocket",
            Prober::Unix => "unix",
        }
    }
}

/// A host as it will be looked up: a lowercased name without trailing dots, or an
/// address in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

/// A host and port that a prober dials. No port is the icmp prober's (it has none),
/// which the policy treats as any port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetHost {
    pub host: Host,
    pub port: Option<u16>,
}

/// One prober's reading of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub prober: &'static str,
    pub dials: TargetHost,
}

/// A target refused before any rule is asked: empty, malformed, or written in a form
/// that the probers (or two blackbox releases) read as different hosts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the target is empty")]
    Empty,
    #[error("the target's host is malformed")]
    Malformed,
    #[error("the target's port is not a number from 0 to 65535")]
    BadPort,
    #[error("an IPv6 address with a port must be in brackets: Go's URL parser reads this as host {host:?}, port {port:?} ([{host}]:{port} if that is meant)")]
    UnbracketedIpv6 { host: String, port: String },
    #[error("the grpc prober cannot dial a bracketed IPv6 address with a port: it joins them without brackets, and grpc-go reads {joined:?} as another address on port 443; use a host name")]
    GrpcBracketedIpv6 { joined: String },
    #[error("the grpc prober reads host {0:?} as a gRPC resolver scheme, not a host")]
    GrpcResolverScheme(String),
    #[error("the unix prober's targets are socket paths on the function's own host, which are never probed")]
    UnixSocket,
    #[error("the {prober} prober cannot use it: {why}")]
    Unusable {
        prober: &'static str,
        why: &'static str,
    },
}

/// Where a prober fails before it dials anything.
type Unusable = &'static str;

/// Every host and port that `probers` may dial for `target` (the `target` query value as
/// Go's query parser decodes it). An error when the target is refused outright, or when
/// none of the probers can use it.
pub fn read_target(target: &str, probers: &[Prober]) -> Result<Vec<Reading>, TargetError> {
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
    // Without a scheme the tcp and dns probers split the whole target at its last ':',
    // so `example.com/x@127.0.0.1:9001` names different hosts to different probers.
    if !has_http_scheme(target, false) && target.contains(['@', '%']) {
        return Err(TargetError::Malformed);
    }
    let mut variants = vec![target.to_string()];
    if let Some(again) = query_unescape(target).filter(|again| again != target) {
        variants.push(again);
    }

    let mut readings: Vec<Reading> = Vec::new();
    let mut first_unusable = None;
    for variant in &variants {
        for prober in probers {
            match prober_readings(variant, *prober)? {
                Ok(found) => {
                    for dials in found {
                        let reading = Reading {
                            prober: prober.name(),
                            dials,
                        };
                        if !readings.contains(&reading) {
                            readings.push(reading);
                        }
                    }
                }
                Err(why) => {
                    first_unusable.get_or_insert((prober.name(), why));
                }
            }
        }
    }
    if readings.is_empty() {
        let (prober, why) = first_unusable.unwrap_or(("http", "it names no host"));
        return Err(TargetError::Unusable { prober, why });
    }
    Ok(readings)
}

/// What one prober dials: the outer error refuses the target, the inner one says the
/// prober fails before dialling.
fn prober_readings(
    target: &str,
    prober: Prober,
) -> Result<Result<Vec<TargetHost>, Unusable>, TargetError> {
    match prober {
        Prober::Http { http3 } => {
            let mut found = Vec::new();
            let mut unusable = None;
            // 0.28 compares the scheme exactly, its main branch without case.
            for any_case in [false, true] {
                let mut url = if has_http_scheme(target, any_case) {
                    target.to_string()
                } else {
                    format!("http://{target}")
                };
                if http3 && has_scheme(&url, "http://", any_case) {
                    url = format!("https://{}", &url["http://".len()..]);
                }
                match url_reading(&url, http3.then_some(443))? {
                    Ok(dials) if !found.contains(&dials) => found.push(dials),
                    Ok(_) => {}
                    Err(why) => unusable = Some(why),
                }
            }
            Ok(if found.is_empty() {
                Err(unusable.unwrap_or("Go's URL parser refuses it"))
            } else {
                Ok(found)
            })
        }
        Prober::Grpc { tls } => grpc_reading(target, tls).map(|r| r.map(|d| vec![d])),
        Prober::Tcp => Ok(match go_split_host_port(target) {
            Ok((host, port)) => dial_reading(host, port)?.map(|d| vec![d]),
            Err(why) => Err(why),
        }),
        Prober::Dns { over_tls } => Ok(match go_split_host_port(target) {
            Ok((host, port)) => dial_reading(host, port)?.map(|d| vec![d]),
            Err(_) => dial_reading(target, if over_tls { "853" } else { "53" })?.map(|d| vec![d]),
        }),
        Prober::Icmp => Ok(classify_host(target).map(|host| vec![TargetHost { host, port: None }])),
        Prober::Websocket => {
            // Go lower-cases the scheme it parses: WSS:// is wss://.
            let scheme = go_scheme(target).unwrap_or_default().to_ascii_lowercase();
            if scheme != "ws" && scheme != "wss" {
                return Ok(Err("its target must be a ws:// or wss:// URL"));
            }
            url_reading(target, None).map(|r| r.map(|d| vec![d]))
        }
        Prober::Unix => Err(TargetError::UnixSocket),
    }
}

fn has_scheme(target: &str, scheme: &str, any_case: bool) -> bool {
    match target.get(..scheme.len()) {
        Some(start) if any_case => start.eq_ignore_ascii_case(scheme),
        Some(start) => start == scheme,
        None => false,
    }
}

fn has_http_scheme(target: &str, any_case: bool) -> bool {
    has_scheme(target, "http://", any_case) || has_scheme(target, "https://", any_case)
}

/// The http and websocket probers: `url.Parse`, then `Hostname()` and `Port()`, the port
/// defaulting to the scheme's (or to `default_port`).
fn url_reading(
    url: &str,
    default_port: Option<u16>,
) -> Result<Result<TargetHost, Unusable>, TargetError> {
    let parsed = match GoUrl::parse(url) {
        Ok(parsed) => parsed,
        Err(why) => return Ok(Err(why)),
    };
    let (hostname, port) = parsed.hostname_and_port();
    if !parsed.host.starts_with('[') && hostname.contains(':') {
        return Err(TargetError::UnbracketedIpv6 {
            host: hostname.to_string(),
            port: port.to_string(),
        });
    }
    let default = default_port.unwrap_or(match parsed.scheme.as_str() {
        "https" | "wss" => 443,
        _ => 80,
    });
    let port = if port.is_empty() {
        default.to_string()
    } else {
        port.to_string()
    };
    dial_reading(hostname, &port)
}

/// The grpc prober splits the URL's host with `net.SplitHostPort`, joins host and port
/// again without brackets, and hands that to grpc-go, which reads it anew.
fn grpc_reading(target: &str, tls: bool) -> Result<Result<TargetHost, Unusable>, TargetError> {
    let url = if has_http_scheme(target, false) {
        target.to_string()
    } else {
        format!("http://{target}")
    };
    let parsed = match GoUrl::parse(&url) {
        Ok(parsed) => parsed,
        Err(why) => return Ok(Err(why)),
    };
    let (hostname, _) = parsed.hostname_and_port();
    if !parsed.host.starts_with('[') && hostname.contains(':') {
        return Err(TargetError::UnbracketedIpv6 {
            host: hostname.to_string(),
            port: parsed.hostname_and_port().1.to_string(),
        });
    }
    let (host, port) = match go_split_host_port(&parsed.host) {
        // Only brackets let a split host hold a ':'.
        Ok((host, port)) if host.contains(':') => {
            return Err(TargetError::GrpcBracketedIpv6 {
                joined: format!("{host}:{port}"),
            })
        }
        Ok(split) => split,
        // blackbox cannot resolve "[v6]" to dial "[v6]:80"; read as that address
        // all the same, which can only refuse more.
        Err(_) => match parsed
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
        {
            Some(inner) => (inner, ""),
            None => (parsed.host.as_str(), ""),
        },
    };
    let lowered = host.to_ascii_lowercase();
    if ["dns", "passthrough", "unix", "unix-abstract"].contains(&lowered.as_str()) {
        return Err(TargetError::GrpcResolverScheme(host.to_string()));
    }
    let port = match port {
        "" if tls => "443",
        "" => "80",
        port => port,
    };
    dial_reading(host, port)
}

/// A host and port string as a prober resolves and dials them.
fn dial_reading(host: &str, port: &str) -> Result<Result<TargetHost, Unusable>, TargetError> {
    let port = match dial_port(port)? {
        Ok(port) => port,
        Err(why) => return Ok(Err(why)),
    };
    Ok(classify_host(host).map(|host| TargetHost { host, port }))
}

/// A port as Go's dialer reads it. Digits are the port; empty is port 0 (Go's legacy
/// reading, golang.org/issue/13610); a number out of range, or a name that could be a
/// service in /etc/services, is refused.
fn dial_port(port: &str) -> Result<Result<Option<u16>, Unusable>, TargetError> {
    if port.is_empty() {
        return Ok(Ok(Some(0)));
    }
    if port.bytes().all(|b| b.is_ascii_digit()) {
        // Refused, not skipped: a port past 65535 can wrap to a small one on its way to
        // the dialer (4294976297 is 2^32 + 9001).
        return port
            .parse()
            .map(|p| Ok(Some(p)))
            .map_err(|_| TargetError::BadPort);
    }
    if port
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_' | b'.'))
    {
        return Err(TargetError::BadPort);
    }
    Ok(Err("its port is neither a number nor a service name"))
}

fn classify_host(host: &str) -> Result<Host, Unusable> {
    normalise_host(host).map_err(|_| "it cannot look up a host written like that")
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
