//! What blackbox_exporter dials for a probe target, modelled from its Go sources and
//! Go's standard library, and written without looking at the handler's reading of it
//! (probe/src/target_reading.rs): this is the oracle the handler is checked against.
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

mod dials;
mod glibc;
mod net;
mod query;
mod resolver;
mod url;

pub use dials::*;
pub use glibc::*;
pub use net::*;
pub use query::*;
pub use resolver::*;
pub use url::*;
