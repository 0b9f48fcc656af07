//! Which targets a probe may reach. blackbox_exporter probes whatever it is asked to;
//! behind a public Function URL that would let anyone reach the Runtime API and every
//! other loopback service of the execution environment. This decides on the target
//! as blackbox will read it, and again on every address its host name resolves to, with
//! the address rules the extension's connect guard enforces where blackbox connects:
//! this is the early, explained refusal; the guard is the boundary.

use std::net::IpAddr;

pub use lambda_blackbox_address_rules::AllowEntry;
use lambda_blackbox_address_rules::{canonical_ip, AddressRules, Refusal};

use crate::target_reading::{Host, Reading, TargetHost};

/// Why a target was refused; the text goes into the 403 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("target {0} is not allowed: it is {1}")]
    Reserved(String, &'static str),
    #[error("target {0} is not in BLACKBOX_ALLOWED_TARGETS")]
    NotListed(String),
    #[error("target {0} resolves to {1}, which is {2}")]
    ResolvesToReserved(String, IpAddr, &'static str),
    #[error("target {0} resolves to {1}, which is not in BLACKBOX_ALLOWED_TARGETS")]
    ResolvesToUnlisted(String, IpAddr),
}

/// The rules a target is checked against, built once from the settings.
#[derive(Debug, Clone)]
pub struct TargetPolicy {
    rules: AddressRules,
}

impl TargetPolicy {
    pub fn new(rules: AddressRules) -> Self {
        Self { rules }
    }

    pub fn rules(&self) -> &AddressRules {
        &self.rules
    }

    fn listed_name(&self, name: &str, port: Option<u16>) -> Option<bool> {
        self.rules
            .allow_list()
            .map(|list| list.iter().any(|e| e.matches_name(name, port)))
    }

    /// The check on the target as written. `Ok(Some(name))` means the host is a name
    /// whose addresses must be checked with [`TargetPolicy::check_resolved`] too.
    pub fn check(&self, target: &TargetHost) -> Result<Option<String>, Denied> {
        let shown = target.to_string();
        match &target.host {
            Host::Ip(ip) => self.check_ip(*ip, target.port, &shown).map(|()| None),
            Host::Name(name) => {
                let listed = self.listed_name(name, target.port);
                let local = name == "localhost" || name.ends_with(".localhost");
                if local && listed != Some(true) {
                    return Err(Denied::Reserved(shown, "loopback"));
                }
                if listed == Some(false) {
                    return Err(Denied::NotListed(shown));
                }
                Ok(Some(name.clone()))
            }
        }
    }

    /// [`TargetPolicy::check`] on every reading of a target: refused if any is. The names
    /// among them still need [`TargetPolicy::check_resolved`].
    pub fn check_readings(&self, readings: &[Reading]) -> Result<(), Denied> {
        readings
            .iter()
            .try_for_each(|reading| self.check(&reading.dials).map(drop))
    }

    /// The check on every address a host name resolved to. A listed name does not make
    /// its addresses listed: a name that resolves to loopback stays refused unless the
    /// address itself is listed.
    pub fn check_resolved(&self, target: &TargetHost, addresses: &[IpAddr]) -> Result<(), Denied> {
        for ip in addresses {
            let ip = canonical_ip(*ip);
            match self.rules.check(ip, target.port) {
                Ok(()) => {}
                Err(Refusal::Is(what)) => {
                    return Err(Denied::ResolvesToReserved(target.to_string(), ip, what))
                }
                Err(Refusal::NotListed) => {
                    return Err(Denied::ResolvesToUnlisted(target.to_string(), ip))
                }
            }
        }
        Ok(())
    }

    /// An address written as the target: the address rules, and with an allow list the
    /// address must be on it even when the list also names hosts.
    fn check_ip(&self, ip: IpAddr, port: Option<u16>, shown: &str) -> Result<(), Denied> {
        match self.rules.check(ip, port) {
            Err(Refusal::Is(what)) => return Err(Denied::Reserved(shown.to_string(), what)),
            Err(Refusal::NotListed) => return Err(Denied::NotListed(shown.to_string())),
            Ok(()) => {}
        }
        if self.rules.allow_list().is_some() && !self.rules.listed(ip, port) {
            return Err(Denied::NotListed(shown.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_reading::{read_target, Prober};

    fn policy(allowed: Option<&str>) -> TargetPolicy {
        let mut vars = vec![("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")];
        if let Some(list) = allowed {
            vars.push(("BLACKBOX_ALLOWED_TARGETS", list));
        }
        let env = lambda_blackbox_contract::Environment::from_pairs(&vars, &[]);
        TargetPolicy::new(AddressRules::from_environment(&env, "nameserver 10.0.0.2\n").unwrap())
    }

    /// Read as the http and tcp probers do, which covers both forms in the table.
    fn verdict(policy: &TargetPolicy, target: &str, resolved: &[&str]) -> Result<(), Denied> {
        let probers = [Prober::Http { http3: false }, Prober::Tcp];
        let readings = read_target(target, &probers).unwrap();
        policy.check_readings(&readings)?;
        let resolved: Vec<IpAddr> = resolved.iter().map(|ip| ip.parse().unwrap()).collect();
        readings
            .iter()
            .filter(|r| matches!(r.dials.host, Host::Name(_)))
            .try_for_each(|r| policy.check_resolved(&r.dials, &resolved))
    }

    #[test]
    fn policies_decide_on_the_target_and_on_what_it_resolves_to() {
        let default = policy(None);
        let local_run = policy(Some("*,0.0.0.0/0,::/0"));
        let listed = policy(Some(
            "*.example.com:443,192.0.2.0/24,127.0.0.1:8080,[2001:db8::/32]:443,[2001:db8:1::5]",
        ));
        let cases: &[(&TargetPolicy, &str, &[&str], bool)] = &[
            (&default, "https://example.com/", &["93.184.215.14"], true),
            (
                &default,
                "https://example.com/",
                &["93.184.215.14", "127.0.0.1"],
                false,
            ),
            (
                &default,
                "https://rebind.example/",
                &["::ffff:169.254.169.254"],
                false,
            ),
            (&default, "10.1.2.3:22", &[], true),
            (&default, "127.0.0.1:8080", &[], false),
            (&local_run, "127.0.0.1:8080", &[], true),
            (&local_run, "localhost:8080", &["127.0.0.1"], true),
            (&local_run, "127.0.0.1:9001", &[], false),
            (&local_run, "127.0.0.5:9115", &[], false),
            (&local_run, "http://[::1]:9001/", &[], false),
            (&local_run, "localhost:9001", &["127.0.0.1"], false),
            (&local_run, "0.0.0.0:9001", &[], false),
            (&local_run, "0:9115", &[], false),
            (&local_run, "[::ffff:0.0.0.0]:9001", &[], false),
            (&local_run, "[::]:9001", &[], false),
            (
                &listed,
                "https://www.example.com/",
                &["93.184.215.14"],
                true,
            ),
            (&listed, "https://www.example.com/", &["127.0.0.1"], false),
            (
                &listed,
                "http://www.example.com/",
                &["93.184.215.14"],
                false,
            ),
            (&listed, "https://example.com/", &["93.184.215.14"], false),
            (&listed, "192.0.2.9:25", &[], true),
            (&listed, "127.0.0.1:8080", &[], true),
            (&listed, "127.0.0.1:8081", &[], false),
            (&listed, "https://[2001:db8:ff::1]/", &[], true),
            (&listed, "http://[2001:db8:ff::1]/", &[], false),
            (&listed, "[2001:db8:1::5]:22", &[], true),
            (&listed, "[2001:db9::1]:443", &[], false),
        ];
        for (policy, target, resolved, allowed) in cases {
            let got = verdict(policy, target, resolved);
            assert_eq!(got.is_ok(), *allowed, "{target} {resolved:?}: {got:?}");
        }
    }
}
