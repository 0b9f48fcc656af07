//! The blocks no probe reaches by default: IANA's special-purpose address registries
//! (IPv4 and IPv6), every block whose "Globally Reachable" is False, plus multicast and
//! broadcast. The private ranges are apart, denied only with `BLACKBOX_DENY_PRIVATE`: a
//! function in a VPC exists to probe them.

use std::net::IpAddr;

use crate::net::IpNet;

/// Denied unless an allow-list entry names them. The first match gives the rule's name,
/// so a narrow block comes before the wide one it sits in.
pub(crate) const DEFAULT_DENIED: &[(IpNet, &str)] = &[
    (IpNet::v4(0, 0, 0, 0, 8), "unspecified"),
    (IpNet::v4(127, 0, 0, 0, 8), "loopback"),
    (IpNet::v4(169, 254, 0, 0, 16), "link-local"),
    (
        IpNet::v4(192, 0, 0, 0, 24),
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (IpNet::v4(192, 0, 2, 0, 24), "documentation (TEST-NET-1)"),
    (IpNet::v4(198, 18, 0, 0, 15), "benchmarking (198.18.0.0/15)"),
    (IpNet::v4(198, 51, 100, 0, 24), "documentation (TEST-NET-2)"),
    (IpNet::v4(203, 0, 113, 0, 24), "documentation (TEST-NET-3)"),
    (IpNet::v4(224, 0, 0, 0, 4), "multicast"),
    (IpNet::v4(255, 255, 255, 255, 32), "broadcast"),
    (IpNet::v4(240, 0, 0, 0, 4), "reserved (240.0.0.0/4)"),
    (IpNet::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (IpNet::v6([0; 8], 128), "unspecified"),
    (
        IpNet::v6([0; 8], 96),
        "an IPv4-compatible address (deprecated)",
    ),
    (
        IpNet::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use IPv4/IPv6 translation (64:ff9b:1::/48)",
    ),
    (
        IpNet::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "discard-only (100::/64)",
    ),
    (
        IpNet::v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64),
        "the dummy IPv6 prefix (100:0:0:1::/64)",
    ),
    (
        IpNet::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignments (2001::/23)",
    ),
    (
        IpNet::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation (2001:db8::/32)",
    ),
    (
        IpNet::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
        "6to4 (2002::/16, carries an IPv4 address)",
    ),
    (
        IpNet::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "documentation (3fff::/20)",
    ),
    (
        IpNet::v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "SRv6 SIDs (5f00::/16)",
    ),
    (
        IpNet::v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
        "the EC2 metadata endpoint",
    ),
    (IpNet::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (
        IpNet::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated)",
    ),
    (IpNet::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// Inside a denied block but "Globally Reachable: True" in the registries: anycast
/// services (PCP, TURN, DNS-SD SRP, AMT, AS112) and ORCHIDv2 / drone remote ID.
pub(crate) const GLOBAL_EXCEPTIONS: &[IpNet] = &[
    IpNet::v4(192, 0, 0, 9, 32),
    IpNet::v4(192, 0, 0, 10, 32),
    IpNet::v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),
    IpNet::v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128),
    IpNet::v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128),
    IpNet::v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32),
    IpNet::v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48),
    IpNet::v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),
    IpNet::v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28),
];

/// Denied too with `BLACKBOX_DENY_PRIVATE=true`.
pub(crate) const PRIVATE: &[(IpNet, &str)] = &[
    (IpNet::v4(10, 0, 0, 0, 8), "a private range"),
    (IpNet::v4(172, 16, 0, 0, 12), "a private range"),
    (IpNet::v4(192, 168, 0, 0, 16), "a private range"),
    (IpNet::v4(100, 64, 0, 0, 10), "a shared (CGNAT) range"),
    (
        IpNet::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "a unique local range",
    ),
];

/// The rule of the default tables that denies `ip` (already canonical), if any.
pub(crate) fn denied_by_default(ip: IpAddr, deny_private: bool) -> Option<&'static str> {
    if GLOBAL_EXCEPTIONS.iter().any(|net| net.contains(ip)) {
        return None;
    }
    let private = if deny_private { PRIVATE } else { &[] };
    DEFAULT_DENIED
        .iter()
        .chain(private)
        .find(|(net, _)| net.contains(ip))
        .map(|(_, rule)| *rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_that_is_not_globally_reachable_is_denied_and_named() {
        let cases: &[(&str, Option<&str>)] = &[
            ("0.1.2.3", Some("unspecified")),
            ("127.0.0.53", Some("loopback")),
            ("169.254.169.254", Some("link-local")),
            (
                "192.0.0.1",
                Some("IETF protocol assignments (192.0.0.0/24)"),
            ),
            ("192.0.0.9", None),
            ("192.0.0.10", None),
            (
                "192.0.0.170",
                Some("IETF protocol assignments (192.0.0.0/24)"),
            ),
            ("192.0.2.1", Some("documentation (TEST-NET-1)")),
            ("192.31.196.1", None),
            ("192.88.99.1", None),
            ("198.18.0.1", Some("benchmarking (198.18.0.0/15)")),
            ("198.19.255.255", Some("benchmarking (198.18.0.0/15)")),
            ("198.20.0.0", None),
            ("198.51.100.7", Some("documentation (TEST-NET-2)")),
            ("203.0.113.7", Some("documentation (TEST-NET-3)")),
            ("224.0.0.251", Some("multicast")),
            ("240.0.0.1", Some("reserved (240.0.0.0/4)")),
            ("255.255.255.255", Some("broadcast")),
            ("10.0.0.1", None),
            ("100.64.0.1", None),
            ("8.8.8.8", None),
            ("::1", Some("loopback")),
            ("::", Some("unspecified")),
            ("::2", Some("an IPv4-compatible address (deprecated)")),
            (
                "64:ff9b:1::1",
                Some("local-use IPv4/IPv6 translation (64:ff9b:1::/48)"),
            ),
            ("100::1", Some("discard-only (100::/64)")),
            (
                "100:0:0:1::1",
                Some("the dummy IPv6 prefix (100:0:0:1::/64)"),
            ),
            ("2001::1", Some("IETF protocol assignments (2001::/23)")),
            ("2001:2::1", Some("IETF protocol assignments (2001::/23)")),
            ("2001:1::1", None),
            ("2001:1::4", Some("IETF protocol assignments (2001::/23)")),
            ("2001:3::1", None),
            ("2001:4:112::1", None),
            ("2001:20::1", None),
            ("2001:30::1", None),
            ("2001:200::1", None),
            ("2001:db8::1", Some("documentation (2001:db8::/32)")),
            (
                "2002:7f00:1::",
                Some("6to4 (2002::/16, carries an IPv4 address)"),
            ),
            ("3fff::1", Some("documentation (3fff::/20)")),
            ("5f00::1", Some("SRv6 SIDs (5f00::/16)")),
            ("fd00:ec2::254", Some("the EC2 metadata endpoint")),
            ("fd00::1", None),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("site-local (deprecated)")),
            ("ff02::1", Some("multicast")),
            ("2600:1f18::1", None),
        ];
        for (ip, rule) in cases {
            assert_eq!(denied_by_default(ip.parse().unwrap(), false), *rule, "{ip}");
        }
    }

    #[test]
    fn private_ranges_are_denied_only_when_asked() {
        let cases = [
            ("10.1.2.3", "a private range"),
            ("172.31.0.1", "a private range"),
            ("192.168.1.1", "a private range"),
            ("100.127.255.255", "a shared (CGNAT) range"),
            ("fd12::1", "a unique local range"),
        ];
        for (ip, rule) in cases {
            let ip = ip.parse().unwrap();
            assert_eq!(denied_by_default(ip, false), None, "{ip}");
            assert_eq!(denied_by_default(ip, true), Some(rule), "{ip}");
        }
        // The EC2 metadata endpoint inside fd00::/8 keeps its own name.
        assert_eq!(
            denied_by_default("fd00:ec2::254".parse().unwrap(), true),
            Some("the EC2 metadata endpoint")
        );
    }
}
