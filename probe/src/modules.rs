//! Which prober each of blackbox's modules uses, read from the same configuration file
//! blackbox loads, so that a target is read as that prober reads it.

use std::collections::HashMap;

use yaml_rust2::{Yaml, YamlLoader};

use crate::target_reading::Prober;

/// blackbox's own default when a probe names no module.
pub const DEFAULT_MODULE: &str = "http_2xx";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlackboxModules {
    probers: HashMap<String, Prober>,
    prefer_ipv6: Vec<PrefersIpv6>,
}

/// A module that resolves a target's IPv6 address first: where the function has no IPv6
/// route (a Lambda function outside a VPC), its probes of dual-stack targets fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefersIpv6 {
    pub module: String,
    /// The prober's section, where `preferred_ip_protocol` goes (`http`, `tcp`, …).
    pub section: &'static str,
    /// Set to ip6 in the file, rather than left to blackbox's default (ip6).
    pub explicit: bool,
}

impl std::fmt::Display for PrefersIpv6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = if self.explicit {
            format!("{}.preferred_ip_protocol is ip6", self.section)
        } else {
            format!(
                "{}.preferred_ip_protocol is unset, and blackbox's default is ip6",
                self.section
            )
        };
        write!(
            f,
            "module {:?} prefers IPv6 ({why}) and this function has no IPv6 route: its probes of \
             targets with an IPv6 address fail. Set {}.preferred_ip_protocol: ip4 in that module, \
             or run the function in a VPC subnet with IPv6",
            self.module, self.section
        )
    }
}

impl BlackboxModules {
    /// The modules of a blackbox configuration. An error only when the text is not YAML
    /// or has no `modules` map; a module whose prober cannot be read is left out, so it
    /// is read as any prober would read it.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| format!("it is not YAML: {e}"))?;
        let doc = docs.first().ok_or("it is empty")?;
        let modules = doc["modules"].as_hash().ok_or("it has no `modules` map")?;
        let probers = modules
            .iter()
            .filter_map(|(name, module)| Some((name.as_str()?.to_string(), prober_of(module)?)))
            .collect();
        let mut prefer_ipv6: Vec<PrefersIpv6> = modules
            .iter()
            .filter_map(|(name, module)| prefers_ipv6(name.as_str()?, module))
            .collect();
        prefer_ipv6.sort_by(|a, b| a.module.cmp(&b.module));
        Ok(Self {
            probers,
            prefer_ipv6,
        })
    }

    /// The modules that resolve IPv6 first, by name.
    pub fn preferring_ipv6(&self) -> &[PrefersIpv6] {
        &self.prefer_ipv6
    }

    /// The probers that may read a target for `module` (blackbox's default when empty).
    pub fn probers(&self, module: Option<&str>) -> &[Prober] {
        let module = module.filter(|m| !m.is_empty()).unwrap_or(DEFAULT_MODULE);
        match self.probers.get(module) {
            Some(prober) => std::slice::from_ref(prober),
            None => &Prober::ANY_NETWORK,
        }
    }
}

/// Whether a module dials IPv6 first: the probers that resolve a name read
/// `preferred_ip_protocol` from their own section, ip6 when unset.
fn prefers_ipv6(name: &str, module: &Yaml) -> Option<PrefersIpv6> {
    let section = match module["prober"].as_str()? {
        "http" => "http",
        "tcp" => "tcp",
        "dns" => "dns",
        "grpc" => "grpc",
        "icmp" => "icmp",
        _ => return None,
    };
    let explicit = match &module[section]["preferred_ip_protocol"] {
        Yaml::BadValue | Yaml::Null => false,
        value => match value.as_str()?.trim().to_ascii_lowercase().as_str() {
            "ip6" | "ipv6" => true,
            _ => return None,
        },
    };
    Some(PrefersIpv6 {
        module: name.to_string(),
        section,
        explicit,
    })
}

/// Whether `/proc/net/ipv6_route` holds a route to somewhere beyond this machine: one on
/// a device other than loopback, to neither link-local (fe80::/10) nor multicast space.
pub fn has_ipv6_route(ipv6_route: &str) -> bool {
    ipv6_route.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(destination), Some(device)) = (fields.first(), fields.get(9)) else {
            return false;
        };
        let local = ["fe8", "fe9", "fea", "feb", "ff"]
            .iter()
            .any(|prefix| destination.starts_with(prefix));
        *device != "lo" && !local
    })
}

fn prober_of(module: &Yaml) -> Option<Prober> {
    // A flag that is not a plain boolean is not guessed at: the module is left out.
    let flag = |section: &str, key: &str| match &module[section][key] {
        Yaml::BadValue | Yaml::Null => Some(false),
        value => value.as_bool(),
    };
    Some(match module["prober"].as_str()? {
        "http" => Prober::Http {
            http3: flag("http", "enable_http3")?,
        },
        "grpc" => Prober::Grpc {
            tls: flag("grpc", "tls")?,
        },
        "tcp" => Prober::Tcp,
        "dns" => Prober::Dns {
            over_tls: flag("dns", "dns_over_tls")?,
        },
        "icmp" => Prober::Icmp,
        "websocket" => Prober::Websocket,
        "unix" => Prober::Unix,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_s_default_modules_are_read() {
        let modules =
            BlackboxModules::from_yaml(include_str!("../../layer/blackbox/blackbox.yml")).unwrap();
        let cases: &[(Option<&str>, Prober)] = &[
            (None, Prober::Http { http3: false }),
            (Some(""), Prober::Http { http3: false }),
            (Some("http_2xx"), Prober::Http { http3: false }),
            (Some("http_post_2xx"), Prober::Http { http3: false }),
            (Some("tcp_connect"), Prober::Tcp),
            (Some("tls"), Prober::Tcp),
            (Some("dns"), Prober::Dns { over_tls: false }),
        ];
        for (module, want) in cases {
            assert_eq!(modules.probers(*module), &[*want], "{module:?}");
        }
    }

    #[test]
    fn settings_that_change_the_dial_are_read_and_doubt_means_any_prober() {
        let modules = BlackboxModules::from_yaml(
            "modules:
  grpc: {prober: grpc}
  grpc_tls: {prober: grpc, grpc: {tls: true}}
  h3: {prober: http, http: {enable_http3: true}}
  dot: {prober: dns, dns: {dns_over_tls: true, transport_protocol: tcp}}
  ws: {prober: websocket}
  sock: {prober: unix}
  quoted: {prober: grpc, grpc: {tls: \"yes\"}}
  merged: {<<: {prober: tcp}}
  strange: {prober: carrier-pigeon}
",
        )
        .unwrap();
        let cases: &[(&str, &[Prober])] = &[
            ("grpc", &[Prober::Grpc { tls: false }]),
            ("grpc_tls", &[Prober::Grpc { tls: true }]),
            ("h3", &[Prober::Http { http3: true }]),
            ("dot", &[Prober::Dns { over_tls: true }]),
            ("ws", &[Prober::Websocket]),
            ("sock", &[Prober::Unix]),
            ("quoted", &Prober::ANY_NETWORK),
            ("merged", &Prober::ANY_NETWORK),
            ("strange", &Prober::ANY_NETWORK),
            ("absent", &Prober::ANY_NETWORK),
        ];
        for (module, want) in cases {
            assert_eq!(modules.probers(Some(module)), *want, "{module}");
        }
    }

    #[test]
    fn modules_that_resolve_ipv6_first_are_named_with_why() {
        let modules = BlackboxModules::from_yaml(
            "modules:
  unset: {prober: http}
  v4: {prober: http, http: {preferred_ip_protocol: ip4}}
  v6: {prober: tcp, tcp: {preferred_ip_protocol: ip6}}
  dns_unset: {prober: dns, dns: {query_name: example.com}}
  sock: {prober: unix}
  grpc_v4: {prober: grpc, grpc: {preferred_ip_protocol: ip4}}
",
        )
        .unwrap();
        let named: Vec<String> = modules
            .preferring_ipv6()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            named,
            [
                "module \"dns_unset\" prefers IPv6 (dns.preferred_ip_protocol is unset, and blackbox's \
                 default is ip6) and this function has no IPv6 route: its probes of targets with an \
                 IPv6 address fail. Set dns.preferred_ip_protocol: ip4 in that module, or run the \
                 function in a VPC subnet with IPv6",
                "module \"unset\" prefers IPv6 (http.preferred_ip_protocol is unset, and blackbox's \
                 default is ip6) and this function has no IPv6 route: its probes of targets with an \
                 IPv6 address fail. Set http.preferred_ip_protocol: ip4 in that module, or run the \
                 function in a VPC subnet with IPv6",
                "module \"v6\" prefers IPv6 (tcp.preferred_ip_protocol is ip6) and this function has \
                 no IPv6 route: its probes of targets with an IPv6 address fail. Set \
                 tcp.preferred_ip_protocol: ip4 in that module, or run the function in a VPC subnet \
                 with IPv6",
            ]
        );
        // The layer's own modules all prefer IPv4.
        let shipped =
            BlackboxModules::from_yaml(include_str!("../../layer/blackbox/blackbox.yml")).unwrap();
        assert_eq!(shipped.preferring_ipv6(), &[]);
    }

    #[test]
    fn an_ipv6_route_is_one_beyond_loopback_and_link_local() {
        // A Lambda function outside a VPC: loopback only (and link-local on its device).
        let lambda = "\
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";
        assert!(!has_ipv6_route(lambda));
        assert!(!has_ipv6_route(""));
        let vpc = format!(
            "{lambda}00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0\n"
        );
        assert!(has_ipv6_route(&vpc));
    }

    #[test]
    fn what_is_not_a_config_is_an_error() {
        let cases = [
            ("", "it is empty"),
            ("modules: [a, b]", "it has no `modules` map"),
            ("other: 1", "it has no `modules` map"),
        ];
        for (text, want) in cases {
            assert_eq!(
                BlackboxModules::from_yaml(text).unwrap_err(),
                want,
                "{text:?}"
            );
        }
        assert!(BlackboxModules::from_yaml("modules: {a: [}")
            .unwrap_err()
            .starts_with("it is not YAML: "));
    }
}
