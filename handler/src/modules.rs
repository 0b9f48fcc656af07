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
        Ok(Self { probers })
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
