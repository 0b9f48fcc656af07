//! Arbitrary query strings and targets through the probe crate's admission, judged against an independent
//! model of what blackbox_exporter's Go code dials (fuzz_targets/go_model/) and of the policy
//! as specified (fuzz_targets/policy_model.rs).
//!
//! The input's first byte picks a module (from the layer's blackbox.yml plus grpc,
//! grpc_tls, http3, dot, ws, a module the handler cannot read, an unknown one) and where
//! its `module=` goes; the rest is a query string, and also a target (escaped into
//! `target=…`). Each query goes through `admission::admit_params` (as the gate reads it) under three policies (default,
//! BLACKBOX_DENY_PRIVATE=true, an allow list), AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 and
//! blackbox on 127.0.0.1:9115. Nothing may panic, and:
//! - where admission admits a target, every dial the Go model finds for it (blackbox 0.25
//!   as the layer pins it, 0.28 and main, each prober the module may use) is either an address that policy allows
//!   (never loopback, unspecified, link-local, the metadata addresses, multicast or
//!   broadcast by default; never private ranges with deny-private; only listed ones, with
//!   their port, under the list; never the Runtime API or blackbox's listener) or a host
//!   name among the admitted readings, normalised, with the same port (or none), so that
//!   the handler resolves it and checks its addresses. With FUZZ_PURE_GO=1 only what the
//!   pure Go resolver (upstream's static builds) reaches counts; by default, also what
//!   the C library's resolver reaches (Debian's cgo builds);
//! - the query yields no target where Go sees one;
//! - every reading of a target (all probers) keeps the older per-reading claims: loopback
//!   and unspecified refused by default, the Runtime API and blackbox whatever the list,
//!   names resolving to loopback refused, a reading prints as something read back to it;
//! - where glibc's inet_aton reads a host as IPv4, the handler does not read it as another
//!   address (with FUZZ_STRICT_ATON=1: as anything else), and where the handler's
//!   `parse_inet_aton` reads one, glibc reads the same;
//! - `query_params` reads a query as Go's `url.ParseQuery` does.
#![no_main]

mod go_model;
mod policy_model;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::LazyLock;

use go_model::{go_get, go_parse_query, query_escape, DialHost, DialPort, GoProber, Release};
use lambda_blackbox_contract::Environment;
use lambda_blackbox_probe::admission::admit_params;
use lambda_blackbox_probe::target_policy::AllowEntry;
use lambda_blackbox_probe::target_reading::{
    normalise_host, parse_inet_aton, query_params, read_target, Host, Prober, Reading, TargetHost,
};
use lambda_blackbox_probe::ProbeSettings;
use libfuzzer_sys::fuzz_target;
use policy_model::{denied, nameserver_on};

const LAYER_CONFIG: &str = include_str!("../../../layer/blackbox/blackbox.yml");

/// Appended to the layer's `modules:` map.
const MORE_MODULES: &str = "
  grpc:
    prober: grpc
    grpc:
      tls: false
  grpc_tls:
    prober: grpc
    grpc:
      tls: true
  http3:
    prober: http
    http:
      enable_http3: true
      follow_redirects: false
  dot:
    prober: dns
    dns:
      query_name: example.com
      transport_protocol: tcp
      dns_over_tls: true
  ws:
    prober: websocket
  # A merge key: Go's YAML reads prober tcp, the handler's reader does not follow it.
  merged:
    <<: {prober: tcp, timeout: 5s}
";

/// What blackbox runs for each module name (Go compares names exactly). The module the
/// handler cannot read is given every prober, whatever Go makes of it.
fn go_probers(module: &[u8]) -> Option<&'static [GoProber]> {
    Some(match module {
        b"http_2xx" | b"http_post_2xx" => &[GoProber::Http { http3: false }],
        b"tcp_connect" | b"tls" => &[GoProber::Tcp],
        b"dns" => &[GoProber::Dns { over_tls: false }],
        b"grpc" => &[GoProber::Grpc { tls: false }],
        b"grpc_tls" => &[GoProber::Grpc { tls: true }],
        b"http3" => &[GoProber::Http { http3: true }],
        b"dot" => &[GoProber::Dns { over_tls: true }],
        b"ws" => &[GoProber::Websocket],
        b"merged" => &GoProber::ALL,
        _ => return None, // "Unknown module": no probe
    })
}

const MODULE_CHOICES: [&str; 13] = [
    "",
    "http_2xx",
    "http_post_2xx",
    "tcp_connect",
    "tls",
    "dns",
    "grpc",
    "grpc_tls",
    "http3",
    "dot",
    "ws",
    "merged",
    "nosuch",
];

const RUNTIME_API: &str = "127.0.0.1:9001";
const ALLOW_LIST: &str =
    "127.0.0.1,::1,localhost,example.com,*.example.org:443,10.0.0.0/8,[fd00::]/8:53";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Default,
    DenyPrivate,
    Listed,
}

fn settings(vars: &[(&str, &str)]) -> ProbeSettings {
    let mut vars = vars.to_vec();
    vars.push(("AWS_LAMBDA_RUNTIME_API", RUNTIME_API));
    let config = format!("{LAYER_CONFIG}{MORE_MODULES}");
    let env = Environment::from_pairs(&vars, &[("/opt/blackbox/blackbox.yml", &config)]);
    ProbeSettings::from_environment(&env, Path::new("/opt")).expect("the fuzz settings are valid")
}

static POLICIES: LazyLock<[(Kind, ProbeSettings); 3]> = LazyLock::new(|| {
    [
        (Kind::Default, settings(&[])),
        (
            Kind::DenyPrivate,
            settings(&[("BLACKBOX_DENY_PRIVATE", "true")]),
        ),
        (
            Kind::Listed,
            settings(&[("BLACKBOX_ALLOWED_TARGETS", ALLOW_LIST)]),
        ),
    ]
});

static STRICT_ATON: LazyLock<bool> = LazyLock::new(|| env_flag("FUZZ_STRICT_ATON"));
static PURE_GO: LazyLock<bool> = LazyLock::new(|| env_flag("FUZZ_PURE_GO"));
/// FUZZ_EXPLAIN=1: print each verdict and the dials modelled (to run on one input).
static EXPLAIN: LazyLock<bool> = LazyLock::new(|| env_flag("FUZZ_EXPLAIN"));

fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == "1")
}

// ------------------------------------------------------------------ the claims

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show_readings(readings: &[Reading]) -> String {
    readings
        .iter()
        .map(|r| format!("{} {}", r.prober, r.dials))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reading covers the dial's port: the same, or none (any). A dial on port 0
/// (an empty port Go passes on) reaches nothing, so any reading of the name covers it.
fn port_covered(reading: Option<u16>, dial: &DialPort) -> bool {
    match reading {
        None => true,
        Some(p) => *dial == DialPort::Num(p) || *dial == DialPort::Num(0),
    }
}

/// One admitted query: every Go dial must be one the policy allows or one the handler
/// still checks.
fn check_dials(kind: Kind, query: &str, readings: &[Reading]) {
    let go = go_parse_query(query);
    let Some(target) = go_get(&go, b"target") else {
        panic!("ADMITTED with readings, though Go sees no target: {query:?}");
    };
    let module = go_get(&go, b"module")
        .filter(|m| !m.is_empty())
        .unwrap_or(b"http_2xx");
    let Some(probers) = go_probers(module) else {
        return;
    };
    for release in Release::ALL {
        for prober in probers {
            for dial in go_model::dials(target, *prober, release) {
                if *EXPLAIN {
                    eprintln!(
                        "  {:?} {:?} {}: {:?} port {:?}{}",
                        dial.release,
                        dial.prober,
                        dial.via,
                        dial.host,
                        dial.port,
                        if dial.cgo_only { " (cgo only)" } else { "" }
                    );
                }
                if dial.cgo_only && *PURE_GO {
                    continue;
                }
                let resolver = if dial.cgo_only {
                    "the C library's resolver"
                } else {
                    "the Go resolver"
                };
                let what = format!(
                    "query {query:?}: blackbox {:?} {:?} target {:?}, {}: dials {:?} port {:?}; the handler admitted {}",
                    dial.release,
                    dial.prober,
                    show(&go_model::prober_target(target, release)),
                    dial.via,
                    dial.host,
                    dial.port,
                    show_readings(readings)
                );
                match &dial.host {
                    DialHost::Ip(ip) => {
                        if let Some(why) = denied(kind, *ip, &dial.port) {
                            panic!(
                                "HOLE ({kind:?} policy, {resolver}): Go dials {:?}, which is {why}: {what:?}",
                                ip.to_string()
                            );
                        }
                    }
                    DialHost::Name(name) => {
                        let wanted = String::from_utf8(go_model::normalise(name)).ok();
                        let read = wanted.as_ref().is_some_and(|wanted| {
                            readings.iter().any(|r| {
                                matches!(&r.dials.host, Host::Name(n) if n == wanted)
                                    && port_covered(r.dials.port, &dial.port)
                            })
                        });
                        if !read {
                            panic!(
                                "HOLE ({kind:?} policy, {resolver}): Go dials a name that is not among the readings: {what:?}"
                            );
                        }
                    }
                    DialHost::IdnaName(_) => panic!(
                        "HOLE ({kind:?} policy, {resolver}): HTTP/3 dials the IDNA (punycode) form of a name, which no reading names: {what:?}"
                    ),
                    DialHost::UnixSocket(_) => panic!(
                        "HOLE ({kind:?} policy, {resolver}): Go dials a unix socket: {what:?}"
                    ),
                }
            }
        }
    }
}

fn admit_and_check(query: &str) {
    for (kind, settings) in POLICIES.iter() {
        let admitted = admit_params(settings, &query_params(query));
        if *EXPLAIN {
            match &admitted {
                Ok(Some(r)) => {
                    eprintln!("{kind:?} {query:?}: admitted {}", show_readings(r))
                }
                other => {
                    eprintln!("{kind:?} {query:?}: {other:?}");
                    if *kind == Kind::Default {
                        // What Go would have dialled: no claim, admission refused.
                        let go = go_parse_query(query);
                        let module = go_get(&go, b"module")
                            .filter(|m| !m.is_empty())
                            .unwrap_or(b"http_2xx");
                        if let (Some(target), Some(probers)) =
                            (go_get(&go, b"target"), go_probers(module))
                        {
                            for release in Release::ALL {
                                for prober in probers {
                                    for d in go_model::dials(target, *prober, release) {
                                        eprintln!(
                                            "  (refused) {:?} {:?} {}: {:?} port {:?}{}",
                                            d.release,
                                            d.prober,
                                            d.via,
                                            d.host,
                                            d.port,
                                            if d.cgo_only { " (cgo only)" } else { "" }
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        match admitted {
            Ok(None) => {
                let go = go_parse_query(query);
                assert!(
                    go_get(&go, b"target").is_none_or(<[u8]>::is_empty),
                    "ADMITTED without a target, though Go probes one: {query:?}"
                );
            }
            Ok(Some(readings)) => check_dials(*kind, query, &readings),
            Err(_) => {}
        }
    }
}

/// The older claims, on each reading of a target by every prober.
fn check_reading(text: &str, target: &TargetHost) {
    let [(_, default), (_, deny_private), (_, listed)] = &*POLICIES;
    let (default, deny_private, listed) = (&default.policy, &deny_private.policy, &listed.policy);
    let by_default = default.check(target);
    let by_deny_private = deny_private.check(target);
    let by_list = listed.check(target);
    match &target.host {
        Host::Ip(ip) => {
            let loopback_or_unspecified = match ip {
                IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
                IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
            };
            if loopback_or_unspecified && !nameserver_on(*ip, target.port) {
                assert!(
                    by_default.is_err(),
                    "{text:?} → {target}: admitted by default"
                );
                assert!(by_deny_private.is_err(), "{text:?} → {target}: admitted");
            }
            if ip.is_loopback() && target.port.is_none_or(|p| p == 9001 || p == 9115) {
                assert!(
                    by_list.is_err(),
                    "{text:?} → {target}: admitted by the list"
                );
            }
            assert!(matches!(by_default, Ok(None) | Err(_)), "{text:?}");
        }
        Host::Name(name) => {
            if name == "localhost" || name.ends_with(".localhost") {
                assert!(
                    by_default.is_err(),
                    "{text:?} → {target}: admitted by default"
                );
            }
            if let Ok(Some(resolved_name)) = &by_default {
                assert_eq!(resolved_name, name, "{text:?}");
            }
        }
    }
    if by_deny_private.is_ok() {
        assert!(
            by_default.is_ok(),
            "{text:?}: deny-private is looser than default"
        );
    }
    let loopbacks = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::new(127, 3, 2, 1)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    ];
    for ip in loopbacks {
        if !nameserver_on(ip, target.port) {
            assert!(
                default.check_resolved(target, &[ip]).is_err(),
                "{text:?} → {target} resolving to {ip}: admitted by default"
            );
        }
        if target.port.is_none_or(|p| p == 9001 || p == 9115) {
            assert!(
                listed.check_resolved(target, &[ip]).is_err(),
                "{text:?} → {target} resolving to {ip}: admitted by the list"
            );
        }
    }
    let _ = default.check_resolved(target, &[IpAddr::V4(Ipv4Addr::new(93, 184, 215, 14))]);

    // The 403 reason names the reading; that text reads back to it.
    let shown = target.to_string();
    match target.port {
        Some(_) => {
            let back = read_target(&shown, &[Prober::Tcp]);
            assert_eq!(
                back.as_ref()
                    .map(|r| r.iter().map(|r| &r.dials).collect::<Vec<_>>()),
                Ok(vec![target]),
                "{text:?} → {shown:?}"
            );
        }
        None => {
            let bare = shown.trim_start_matches('[').trim_end_matches(']');
            assert_eq!(
                normalise_host(bare).as_ref(),
                Ok(&target.host),
                "{text:?} → {shown:?}"
            );
        }
    }
}

fn check_readings(text: &str) {
    if let Ok(readings) = read_target(text, &Prober::ALL) {
        for reading in &readings {
            check_reading(text, &reading.dials);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let module = MODULE_CHOICES[selector as usize % MODULE_CHOICES.len()];
    let placement = selector as usize / MODULE_CHOICES.len() % 3;
    let with_module = |query: &str| match placement {
        0 => format!("module={module}&{query}"),
        1 => format!("{query}&module={module}"),
        _ => query.to_string(),
    };

    // The gate against Go: the input as a query, and as a target.
    admit_and_check(&with_module(text));
    admit_and_check(&with_module(&format!("target={}", query_escape(rest))));

    // Every prober's reading of the input as a target.
    check_readings(text);

    // inet_aton forms: the host as glibc reads it must not come out as another address.
    let host = text.trim().to_ascii_lowercase();
    if !host.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) {
        let theirs = go_model::glibc_inet_aton(host.as_bytes());
        let ours = parse_inet_aton(&host);
        // Reading more as an address than glibc does only refuses more ("0x" is 0.0.0.0
        // to the handler, a name to glibc); FUZZ_STRICT_ATON=1 asks for agreement.
        if let Some(ours) = ours.filter(|_| *STRICT_ATON) {
            assert_eq!(
                theirs,
                Some(ours),
                "{host:?}: parse_inet_aton reads {ours}, glibc does not"
            );
        }
        if let Some(theirs) = theirs {
            match normalise_host(&host) {
                Ok(Host::Ip(ip)) => assert_eq!(ip, IpAddr::V4(theirs), "{host:?}"),
                other if *STRICT_ATON => {
                    panic!("{host:?}: glibc reads {theirs}, normalise_host {other:?}, parse_inet_aton {ours:?}")
                }
                _ => {}
            }
        }
    }

    // Allow-list entries: no panic, whatever they hold.
    let _ = AllowEntry::parse(text);

    // The query must be read as blackbox (Go's net/url) reads it, or one
    // target while blackbox probes another.
    let ours = query_params(text);
    let go: Vec<(String, String)> = go_parse_query(text)
        .into_iter()
        .map(|(k, v)| (show(&k), show(&v)))
        .collect();
    assert_eq!(ours, go, "{text:?}: ours and Go read different parameters");
    for (key, value) in ours {
        if key == "target" {
            check_readings(&value);
        }
    }
});
