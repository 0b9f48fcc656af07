//! Whether a probe target may be probed: as the module's prober reads it, by the target
//! policy, and again once its host names are resolved. A scrape and a push run ask alike.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::settings::ProbeSettings;
use crate::target_reading::{read_target, Host, Reading, TargetHost};

/// A target that is not probed, and why in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRefusal {
    /// No prober could read it (a scrape answers 400).
    Unreadable(String),
    /// The target policy refuses it (a scrape answers 403).
    Denied(String),
}

impl TargetRefusal {
    pub fn into_reason(self) -> String {
        match self {
            TargetRefusal::Unreadable(reason) | TargetRefusal::Denied(reason) => reason,
        }
    }
}

/// A probe target as the module's prober reads it, checked by the target policy. Its
/// host names are still to be checked once resolved ([`check_resolved`]).
pub fn admit_target(
    settings: &ProbeSettings,
    target: &str,
    module: Option<&str>,
) -> Result<Vec<Reading>, TargetRefusal> {
    let probers = settings.modules.probers(module);
    let readings = read_target(target, probers).map_err(|e| {
        TargetRefusal::Unreadable(format!("target {:?} is not usable: {e}", one_line(target)))
    })?;
    settings
        .policy
        .check_readings(&readings)
        .map_err(|denied| TargetRefusal::Denied(denied.to_string()))?;
    Ok(readings)
}

/// What a query asks to probe, as blackbox reads it: the first `target` with the first
/// `module`, admitted; `None` when it names no target.
pub fn admit_params(
    settings: &ProbeSettings,
    params: &[(String, String)],
) -> Result<Option<Vec<Reading>>, TargetRefusal> {
    let first = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    match first("target") {
        None => Ok(None),
        Some(target) => admit_target(settings, target, first("module")).map(Some),
    }
}

/// The second look at each host name a prober would dial: every address it resolves
/// to now, each name looked up once within `timeout`. blackbox resolves it again, so a
/// name whose answers change between the two (DNS rebinding) is left to the connect
/// guard; docs/security.md says so.
pub async fn check_resolved(
    settings: &ProbeSettings,
    readings: &[Reading],
    timeout: Duration,
) -> Result<(), TargetRefusal> {
    let deadline = Instant::now() + timeout;
    let mut resolved: HashMap<&str, Vec<IpAddr>> = HashMap::new();
    for reading in readings {
        let Host::Name(name) = &reading.dials.host else {
            continue;
        };
        let addresses = match resolved.get(name.as_str()) {
            Some(addresses) => addresses.clone(),
            None => {
                let left = deadline.saturating_duration_since(Instant::now());
                let addresses = resolve(name, &reading.dials, left).await?;
                resolved.insert(name, addresses.clone());
                addresses
            }
        };
        settings
            .policy
            .check_resolved(&reading.dials, &addresses)
            .map_err(|denied| TargetRefusal::Denied(denied.to_string()))?;
    }
    Ok(())
}

/// musl's `MAXADDRS`: how many addresses of one answer its getaddrinfo returns.
pub const RESOLVER_ADDRESS_CAP: usize = 48;

/// Every address `name` resolves to, through the system resolver as blackbox's does.
/// A name that does not resolve here is refused, not passed on unchecked: the system
/// resolver fails a whole lookup when one of its A and AAAA queries fails, so a zone
/// could answer A 127.0.0.1, fail AAAA, and have blackbox (which asks for A alone)
/// probe loopback.
async fn resolve(
    name: &str,
    target: &TargetHost,
    timeout: Duration,
) -> Result<Vec<IpAddr>, TargetRefusal> {
    let cannot_check = |why: String| {
        TargetRefusal::Denied(format!(
            "target {target} is refused: its host name could not be resolved to check it ({why})"
        ))
    };
    let lookup = tokio::net::lookup_host((name, target.port.unwrap_or(80)));
    let addresses: Vec<IpAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addresses)) => addresses.map(|a| a.ip()).collect(),
        Ok(Err(e)) => return Err(cannot_check(e.to_string())),
        Err(_) => return Err(cannot_check("the lookup timed out".to_string())),
    };
    let mut distinct = addresses;
    distinct.sort();
    distinct.dedup();
    if distinct.is_empty() {
        return Err(cannot_check("no addresses".to_string()));
    }
    // The C library keeps the first RESOLVER_ADDRESS_CAP addresses of an answer; Go keeps
    // them all and may dial one this lookup never saw.
    if distinct.len() >= RESOLVER_ADDRESS_CAP {
        return Err(cannot_check(format!(
            "it has {} or more addresses, as many as the C library keeps, so some may not have been seen",
            RESOLVER_ADDRESS_CAP
        )));
    }
    Ok(distinct)
}

/// Keeps a reason on one line and short, whatever the request held.
pub fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_reading::query_params;

    fn settings_with(vars: &[(&str, &str)]) -> ProbeSettings {
        let mut vars = vars.to_vec();
        vars.push(("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"));
        crate::settings::test_settings(&vars).unwrap()
    }

    fn settings() -> ProbeSettings {
        settings_with(&[])
    }

    fn admitted(query: &str) -> Result<Option<Vec<String>>, TargetRefusal> {
        let readings = admit_params(&settings(), &query_params(query))?;
        Ok(readings.map(|r| {
            r.iter()
                .map(|r| format!("{} {}", r.prober, r.dials))
                .collect()
        }))
    }

    #[test]
    fn the_first_target_and_module_are_the_ones_judged() {
        assert_eq!(admitted("module=http_2xx"), Ok(None));
        assert_eq!(
            admitted("target=example.com:443&module=tcp_connect&target=127.0.0.1:22"),
            Ok(Some(vec!["tcp example.com:443".to_string()]))
        );
        assert_eq!(
            admitted("target=127.0.0.1:22&module=tcp_connect&target=example.com:443"),
            Err(TargetRefusal::Denied(
                "target 127.0.0.1:22 is not allowed: it is loopback".into()
            ))
        );
        assert!(matches!(
            admitted("target=http://[::1&module=http_2xx"),
            Err(TargetRefusal::Unreadable(reason)) if reason.starts_with("target \"http://[::1\" is not usable")
        ));
    }

    #[tokio::test]
    async fn a_name_is_judged_again_by_what_it_resolves_to() {
        // Listed by name, so only its addresses (from /etc/hosts: no query leaves) can refuse it.
        let settings = settings_with(&[("BLACKBOX_ALLOWED_TARGETS", "localhost")]);
        let readings = admit_target(&settings, "localhost:9100", Some("tcp_connect")).unwrap();
        let refusal = check_resolved(&settings, &readings, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(&refusal, TargetRefusal::Denied(reason) if reason.contains("loopback")),
            "{refusal:?}"
        );
    }

    #[test]
    fn a_reason_is_one_short_line() {
        assert_eq!(one_line("a\nb\tc"), "a?b?c");
        let long = "x".repeat(300);
        assert_eq!(one_line(&long).chars().count(), 201);
    }
}
