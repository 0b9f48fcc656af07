//! The target policy as the README specifies it, written apart from the handler's
//! `target_policy`: what each of the three fuzzed policies must refuse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::go_model::DialPort;
use crate::Kind;

/// An IPv6 address carrying an IPv4 one (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d,
/// NAT64 64:ff9b::a.b.c.d) is that IPv4 address. `::` and `::1`, and the compatible
/// forms of 0.0.x.y, stay IPv6: the kernel routes them as IPv6, never to an IPv4 host.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let o = v6.octets();
    let v4 = IpAddr::V4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => v4,
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => v4,
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => v4,
        _ => ip,
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

fn always_denied(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => [
            ([127, 0, 0, 0], 8, "loopback"),
            ([0, 0, 0, 0], 8, "unspecified"),
            ([169, 254, 0, 0], 16, "link-local (metadata)"),
            ([224, 0, 0, 0], 4, "multicast"),
            ([255, 255, 255, 255], 32, "broadcast"),
        ]
        .into_iter()
        .find(|(net, prefix, _)| in_v4(v4, *net, *prefix))
        .map(|(_, _, why)| why),
        IpAddr::V6(v6) => [
            (Ipv6Addr::LOCALHOST, 128, "loopback"),
            (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
            ("fe80::".parse().unwrap(), 10, "link-local"),
            (
                "fd00:ec2::254".parse().unwrap(),
                128,
                "the EC2 metadata address",
            ),
            ("ff00::".parse().unwrap(), 8, "multicast"),
        ]
        .into_iter()
        .find(|(net, prefix, _)| in_v6(v6, *net, *prefix))
        .map(|(_, _, why)| why),
    }
}

fn private(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => [
            ([10, 0, 0, 0], 8),
            ([172, 16, 0, 0], 12),
            ([192, 168, 0, 0], 16),
            ([100, 64, 0, 0], 10),
        ]
        .into_iter()
        .any(|(net, prefix)| in_v4(v4, net, prefix))
        .then_some("private"),
        IpAddr::V6(v6) => in_v6(v6, "fc00::".parse().unwrap(), 7).then_some("unique local"),
    }
}

/// Where the Runtime API (127.0.0.1:9001) and blackbox (127.0.0.1:9115) can be reached:
/// any loopback address, or the unspecified one, on their ports (or on a port not
/// known here, a service name).
fn local_service(ip: IpAddr, port: &DialPort) -> bool {
    let local = match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
    };
    local
        && match port {
            DialPort::Num(p) => *p == 9001 || *p == 9115,
            DialPort::Service(_) => true,
            DialPort::NoPort => false,
        }
}

/// The allow list's address entries: 127.0.0.1, ::1, 10.0.0.0/8 on any port,
/// fd00::/8 on port 53.
fn listed(ip: IpAddr, port: &DialPort) -> bool {
    let any_port = match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST || in_v4(v4, [10, 0, 0, 0], 8),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    };
    let on_53 = matches!(ip, IpAddr::V6(v6) if in_v6(v6, "fd00::".parse().unwrap(), 8));
    any_port || (on_53 && *port == DialPort::Num(53))
}

/// The resolver's nameservers stay reachable on port 53 under every policy. The fuzz gives
/// no resolv.conf, so they are Go's defaults: 127.0.0.1 and ::1.
fn nameserver(ip: IpAddr, port: &DialPort) -> bool {
    let default_nameserver = match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    };
    default_nameserver && *port == DialPort::Num(53)
}

/// [`nameserver`] for a target's reading, whose port may be absent.
pub(crate) fn nameserver_on(ip: IpAddr, port: Option<u16>) -> bool {
    port.is_some_and(|p| nameserver(canonical(ip), &DialPort::Num(p)))
}

pub(crate) fn denied(kind: Kind, ip: IpAddr, port: &DialPort) -> Option<&'static str> {
    let ip = canonical(ip);
    if nameserver(ip, port) {
        return None;
    }
    if local_service(ip, port) {
        return Some("the Runtime API's or blackbox's own listener");
    }
    match kind {
        Kind::Default => always_denied(ip),
        Kind::DenyPrivate => always_denied(ip).or_else(|| private(ip)),
        Kind::Listed => (!listed(ip, port)).then_some("not in the allow list"),
    }
}
