//! Arbitrary bytes as a Lambda event: the handler's event check, then lambda_http turns the JSON into a request (Function
//! URL / API Gateway v2, API Gateway v1, ALB), then the handler's own steps run on it as
//! `Proxy::handle` does — the gate under several settings, the upstream timeout from
//! the scrape-timeout header, the upstream URL. Nothing may panic, and what the gate
//! admits must hold the invariants asserted below.
#![no_main]

use std::net::IpAddr;
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use lambda_blackbox_contract::Environment;
use lambda_blackbox_handler::event;
use lambda_blackbox_handler::gate::{self, MAX_QUERY_BYTES};
use lambda_blackbox_handler::settings::HandlerSettings;
use lambda_blackbox_handler::upstream_timeout;
use lambda_blackbox_probe::target_reading::{query_params, Host};
use lambda_blackbox_probe::SCRAPE_TIMEOUT_HEADER;
use lambda_http::http::{header, Method};
use lambda_http::request::LambdaRequest;
use lambda_http::{Request, RequestExt};
use libfuzzer_sys::fuzz_target;

const LAYER_CONFIG: &str = include_str!("../../../layer/blackbox/blackbox.yml");
const TOKEN: &str = "fuzz-token-0123456789";
const RUNTIME_API: &str = "127.0.0.1:9001";
const BLACKBOX_PORT: u16 = 9115;

struct Case {
    name: &'static str,
    settings: HandlerSettings,
    /// No BLACKBOX_ALLOWED_TARGETS: the default deny list is in force.
    default_policy: bool,
}

fn settings(vars: &[(&str, &str)]) -> HandlerSettings {
    // blackbox's configuration: the layer's default modules.
    let env = Environment::from_pairs(vars, &[("/opt/blackbox/blackbox.yml", LAYER_CONFIG)]);
    HandlerSettings::from_environment(&env, Path::new("/opt")).expect("the fuzz settings are valid")
}

static CASES: LazyLock<Vec<Case>> = LazyLock::new(|| {
    vec![
        Case {
            name: "default",
            settings: settings(&[("AWS_LAMBDA_RUNTIME_API", RUNTIME_API)]),
            default_policy: true,
        },
        Case {
            name: "token",
            settings: settings(&[
                ("AWS_LAMBDA_RUNTIME_API", RUNTIME_API),
                ("BLACKBOX_AUTH_TOKEN", TOKEN),
            ]),
            default_policy: true,
        },
        Case {
            name: "token, IAM trusted",
            settings: settings(&[
                ("AWS_LAMBDA_RUNTIME_API", RUNTIME_API),
                ("BLACKBOX_AUTH_TOKEN", TOKEN),
                ("BLACKBOX_AUTH_TRUST_IAM", "true"),
            ]),
            default_policy: true,
        },
        Case {
            name: "allow list",
            settings: settings(&[
                ("AWS_LAMBDA_RUNTIME_API", RUNTIME_API),
                (
                    "BLACKBOX_ALLOWED_TARGETS",
                    "127.0.0.1,localhost:8080,example.com,*.example.org:443,10.0.0.0/8,[::1]:8080",
                ),
                ("BLACKBOX_DENY_PRIVATE", "true"),
                ("BLACKBOX_EXPOSE_METRICS", "true"),
                ("BLACKBOX_ALLOW_DEBUG", "true"),
            ]),
            default_policy: false,
        },
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The runtime deserialises the event, the handler checks it (event::check), and only
    // then does lambda_http convert it: no catch_unwind here, so a panic in the conversion
    // of an event the check passed is a finding.
    let Ok(event) = serde_json::from_str::<LambdaRequest>(text) else {
        return;
    };
    if let Err(malformed) = event::check(&event) {
        let reason = malformed.to_string();
        assert!(!reason.contains('\n'), "a one-line reason: {reason:?}");
        return;
    }
    let request: Request = event.into();

    // The oracle below reads the request as `Proxy::handle` does.
    let iam_authenticated = gate::iam_authenticated(&request);
    let path = request.raw_http_path().to_string();
    let query = request.uri().query().map(str::to_string);
    let method = request.method();
    let headers = request.headers();

    let scrape = headers
        .get(SCRAPE_TIMEOUT_HEADER)
        .and_then(|v| v.to_str().ok());
    let now = SystemTime::now();
    for deadline in [None, Some(now + Duration::from_secs(30)), Some(now)] {
        let timeout = upstream_timeout(scrape, deadline, now);
        assert!(timeout <= Duration::from_secs(30), "{timeout:?}");
    }

    for case in CASES.iter() {
        let admitted = match gate::admit_request(&case.settings, &request) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                assert!(
                    refusal.status.is_client_error(),
                    "{}: {refusal:?}",
                    case.name
                );
                assert!(!refusal.reason.contains('\n'), "{}: {refusal:?}", case.name);
                continue;
            }
        };
        let name = case.name;
        assert!(
            *method == Method::GET || *method == Method::HEAD,
            "{name}: {method} admitted"
        );
        let query = query.as_deref().unwrap_or_default();
        assert!(
            query.len() <= MAX_QUERY_BYTES,
            "{name}: long query admitted"
        );
        let metrics_path = path == "/metrics" || path == "/-/healthy";
        assert!(
            path == "/probe" || (metrics_path && case.settings.expose_metrics),
            "{name}: path {path:?} admitted"
        );
        if let Some(token) = &case.settings.auth_token {
            if !(case.settings.trust_iam && iam_authenticated) {
                let presented = headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes().trim_ascii())
                    .unwrap_or_default();
                let (scheme, value) = presented.split_at(presented.len().min(6));
                assert!(
                    scheme.eq_ignore_ascii_case(b"bearer") && token.matches(value.trim_ascii()),
                    "{name}: admitted with Authorization {presented:?}"
                );
            }
        }
        if path == "/probe" {
            let params = query_params(query);
            let debug = params.iter().find(|(k, _)| k == "debug");
            assert!(
                case.settings.allow_debug || debug.is_none_or(|(_, v)| v != "true"),
                "{name}: debug=true admitted"
            );
            let target = params.iter().find(|(k, _)| k == "target");
            assert_eq!(
                target.is_some(),
                admitted.target.is_some(),
                "{name}: the gate judged another target than blackbox reads"
            );
        }
        // Every reading of the target (each prober the module may use) holds them.
        for reading in admitted.target.iter().flatten() {
            let target = &reading.dials;
            match &target.host {
                Host::Ip(ip) => {
                    let loopback = match ip {
                        IpAddr::V4(v4) => v4.is_loopback(),
                        IpAddr::V6(v6) => v6.is_loopback(),
                    };
                    // The resolver's nameservers stay reachable on port 53; with no
                    // resolv.conf (as here) they are Go's defaults, 127.0.0.1 and ::1.
                    let nameserver = target.port == Some(53)
                        && (*ip == IpAddr::from([127, 0, 0, 1])
                            || *ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
                    if loopback && !nameserver {
                        assert!(!case.default_policy, "{name}: loopback {target} admitted");
                        // Whatever the list says: the Runtime API and blackbox itself.
                        let port = target.port;
                        assert!(
                            port.is_some_and(|p| p != 9001 && p != BLACKBOX_PORT),
                            "{name}: {target} admitted"
                        );
                    }
                    if case.default_policy {
                        assert!(!ip.is_unspecified(), "{name}: {target} admitted");
                    }
                }
                Host::Name(host) => {
                    if case.default_policy {
                        assert!(
                            host != "localhost" && !host.ends_with(".localhost"),
                            "{name}: {target} admitted"
                        );
                    }
                }
            }
        }

        // The URI `BlackboxClient::forward` sends: it must parse, or an admitted request would be
        // answered 502 "is not a URI".
        let path_and_query = if query.is_empty() && request.uri().query().is_none() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        let url = format!(
            "http://{}{path_and_query}",
            case.settings.probe.listen_address
        );
        assert!(
            url.parse::<lambda_http::http::Uri>().is_ok(),
            "{name}: an admitted request's upstream URI does not parse: {url}"
        );
    }
});
