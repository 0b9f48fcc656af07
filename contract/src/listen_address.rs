//! Where blackbox_exporter listens: the extension starts it there and waits for it to
//! say so, the handler connects there, and both find the pid file by it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::SettingsError;

/// Address blackbox_exporter listens on, and the handler connects to.
pub const LISTEN_ADDRESS_VAR: &str = "BLACKBOX_LISTEN_ADDRESS";

/// Loopback only: nothing outside the execution environment should reach blackbox.
pub const DEFAULT_LISTEN_ADDRESS: &str = "127.0.0.1:9115";

/// A loopback `host:port`, validated once under one set of rules for both binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress {
    address: String,
    /// The host without brackets; `localhost` or a loopback address.
    host: String,
    port: u16,
}

impl ListenAddress {
    /// The `BLACKBOX_LISTEN_ADDRESS` value, or the default when it is unset or blank.
    pub fn from_setting(value: Option<&str>) -> Result<Self, SettingsError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(address) => Self::parse(address),
            None => Self::parse(DEFAULT_LISTEN_ADDRESS),
        }
    }

    pub fn parse(address: &str) -> Result<Self, SettingsError> {
        let invalid = |why: &str| {
            SettingsError::new(
                LISTEN_ADDRESS_VAR,
                format!("{address:?} is not a host:port address ({why})"),
            )
        };
        let (host, port) = address.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
        // Digits only, as every handler reads it: `u16::from_str` also takes a leading `+`.
        let port = match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => return Err(invalid("the port must be a number from 1 to 65535")),
        };
        // An IPv6 address only in brackets, as blackbox (Go's net.SplitHostPort) reads it.
        let bare = match host.strip_prefix('[') {
            Some(inner) => inner.strip_suffix(']'),
            None => Some(host).filter(|h| !h.contains(':')),
        }
        .filter(|b| !b.contains(['[', ']']) && !b.contains(char::is_whitespace))
        .ok_or_else(|| invalid("the host is malformed"))?;
        // blackbox serves anyone who reaches it, /config included: only the function itself
        // may (in a VPC, a non-loopback address is reachable from the subnet).
        let loopback =
            bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(SettingsError::new(
                LISTEN_ADDRESS_VAR,
                format!(
                    "{address:?} is not a loopback address: blackbox must listen on 127.0.0.0/8, [::1] or localhost"
                ),
            ));
        }
        Ok(Self {
            address: address.to_string(),
            host: bare.to_string(),
            port,
        })
    }

    /// As configured: blackbox's `--web.listen-address`, and where the handler connects.
    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address a connection reaches (`localhost` is 127.0.0.1).
    pub fn ip(&self) -> IpAddr {
        self.host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Whether blackbox's `Listening on` address is this one. blackbox prints the bound
    /// socket, so `localhost` shows as an address: then only the port can be compared.
    pub fn matches_printed(&self, printed: &str) -> bool {
        if printed == self.address {
            return true;
        }
        match self.host.parse::<IpAddr>() {
            Ok(ip) => printed.parse::<SocketAddr>() == Ok(SocketAddr::new(ip, self.port)),
            Err(_) => printed
                .rsplit_once(':')
                .is_some_and(|(_, port)| port == self.port.to_string()),
        }
    }

    /// Where the extension writes its process id, so that the handler can ask it to
    /// replace a blackbox that stopped answering and can tell when it is gone. One file per
    /// listen address: /tmp is shared by every process of an execution environment.
    pub fn pid_file(&self) -> PathBuf {
        self.extension_file("pid")
    }

    /// Where the extension writes whether blackbox runs under the connect guard: `on`, or
    /// `off (<cause>)`. The Python and Node.js handlers, which check no target themselves,
    /// read it before they forward a probe under a target policy.
    pub fn guard_status_file(&self) -> PathBuf {
        self.extension_file("guard")
    }

    fn extension_file(&self, extension: &str) -> PathBuf {
        let name: String = self
            .address
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        PathBuf::from(format!("/tmp/lambda-blackbox/extension-{name}.{extension}"))
    }
}

impl Default for ListenAddress {
    fn default() -> Self {
        Self {
            address: DEFAULT_LISTEN_ADDRESS.to_string(),
            host: "127.0.0.1".to_string(),
            port: 9115,
        }
    }
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Which values are taken and which refused, and the pid and guard files: the table
    // every language reads (contract/contract.json, tests/contract_table.rs).

    #[test]
    fn a_connection_reaches_the_host_and_port() {
        let cases = [
            ("127.0.0.1:9200", "127.0.0.1", 9200),
            ("[::1]:9201", "::1", 9201),
            ("localhost:9203", "127.0.0.1", 9203),
            ("[127.0.0.1]:9204", "127.0.0.1", 9204),
        ];
        for (address, ip, port) in cases {
            let listen = ListenAddress::parse(address).unwrap();
            assert_eq!(listen.ip(), ip.parse::<IpAddr>().unwrap(), "{address}");
            assert_eq!(listen.port(), port, "{address}");
        }
        let default = ListenAddress::default();
        assert_eq!(
            (default.ip(), default.port()),
            (Ipv4Addr::LOCALHOST.into(), 9115)
        );
    }

    #[test]
    fn addresses_match_as_blackbox_prints_them() {
        let cases = [
            ("127.0.0.1:9115", "127.0.0.1:9115", true),
            ("127.0.0.1:9115", "127.0.0.1:9116", false),
            ("127.0.0.1:9115", "127.0.0.2:9115", false),
            ("localhost:9115", "127.0.0.1:9115", true),
            ("localhost:9115", "127.0.0.1:9116", false),
            ("[::1]:9115", "[::1]:9115", true),
            ("[0:0::1]:9115", "[::1]:9115", true),
            ("[::1]:9115", "127.0.0.1:9115", false),
        ];
        for (configured, printed, want) in cases {
            let listen = ListenAddress::parse(configured).unwrap();
            assert_eq!(
                listen.matches_printed(printed),
                want,
                "{configured} vs {printed}"
            );
        }
    }
}
