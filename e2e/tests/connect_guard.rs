//! The connect guard tried as an attacker would: through the real layer, in a mount and
//! network namespace the test makes, whose only resolver is the test's own DNS server
//! (a hostile zone) and whose decoys (loopback, the metadata addresses) are recording
//! listeners. Every attack must end refused (the Rust handler's 403) or with
//! `probe_success 0` (the guard's EACCES), and no decoy may ever be contacted; each
//! allowed control must get through. With the guard off, the same rebinding attack
//! reaches a decoy: the test can fail.
#![cfg(feature = "layer")]

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::OriginalUri;
use lambda_blackbox_contract::CONFIG_VAR;
use lambda_blackbox_e2e::dns::{DnsServer, Record, Zone, TYPE_A, TYPE_AAAA};
use lambda_blackbox_e2e::handler_port::HandlerPort;
use lambda_blackbox_e2e::harness::{BlackboxRelease, Function, Harness, Platform};
use lambda_blackbox_e2e::receiver::Receiver;
use lambda_blackbox_e2e::recorder::Recorder;
use lambda_blackbox_e2e::{
    assert_probe_succeeded, both_harnesses, encode, free_port, layer_dir, metric, start_target,
    TempDir,
};

both_harnesses!(
    a_restarted_blackbox_is_guarded_too,
    without_process_vm_readv_the_guard_reads_proc_mem,
    without_pidfd_getfd_auto_starts_blackbox_again_unguarded,
    without_seccomp_auto_runs_blackbox_unguarded_and_says_why,
    without_seccomp_required_fails_init_naming_the_cause,
);

/// Set by the outer test for the inner one, which must not run anywhere else.
const NAMESPACE_VAR: &str = "LAMBDA_BLACKBOX_ATTACK_NAMESPACE";
/// The namespace's nameserver, and a host the default rules allow (100.64.0.0/10 is
/// denied only with BLACKBOX_DENY_PRIVATE).
const NAMESERVER: &str = "100.64.0.53";
const CONTROL: &str = "100.64.0.10";
const METADATA: &str = "169.254.169.254";
const CONTAINER_CREDENTIALS: &str = "169.254.170.2";

#[test]
fn attacks_through_the_layer_reach_no_decoy() {
    let dir = TempDir::new("attack-namespace");
    let resolv_conf = dir.join("resolv.conf");
    std::fs::write(&resolv_conf, format!("nameserver {NAMESERVER}\n")).unwrap();
    let script = format!(
        "set -e; ip link set lo up; \
         for a in {NAMESERVER} {CONTROL} {METADATA} {CONTAINER_CREDENTIALS}; do ip addr add $a/32 dev lo; done; \
         mount --bind \"$0\" /etc/resolv.conf; exec \"$@\""
    );
    let status = Command::new("unshare")
        .args(["--mount", "--net", "--", "sh", "-c", &script])
        .arg(&resolv_conf)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "in_a_namespace_of_its_own",
            "--nocapture",
        ])
        .env(NAMESPACE_VAR, "1")
        .status()
        .expect("unshare (util-linux) runs; the tests run as root");
    assert!(
        status.success(),
        "the attacks in the namespace failed: {status}"
    );
}

/// The hostile zone: `decoy` is where loopback answers send a prober.
fn zone() -> Zone {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    Arc::new(move |name: &str, qtype: u16, times: usize| {
        let a = |s: &str| Record::Address(None, ip(s));
        match (name, qtype) {
            ("control.attack.test", TYPE_A) => vec![a(CONTROL)],
            // More than musl's 48, loopback and the metadata address last.
            ("many.attack.test", TYPE_A) => (1..=58)
                .map(|i| a(&format!("100.64.2.{i}")))
                .chain([a(METADATA), a("127.0.0.1")])
                .collect(),
            ("many.attack.test", TYPE_AAAA) => vec![a("::1")],
            // The first lookup (the Rust handler's) sees the control; the next, loopback.
            (rebind, TYPE_A) if rebind.starts_with("rebind-") => {
                vec![a(if times == 0 { CONTROL } else { "127.0.0.1" })]
            }
            (name, TYPE_A) if name == "loop.attack.test" || name.starts_with("loop-") => {
                vec![a("127.0.0.1")]
            }
            ("metadata.attack.test", TYPE_A) => vec![a(METADATA)],
            ("cname.attack.test", TYPE_A) => vec![
                Record::Cname(None, "loop.attack.test".into()),
                Record::Address(Some("loop.attack.test".into()), ip("127.0.0.1")),
            ],
            // A record for another name before the real one.
            ("stray.attack.test", TYPE_A) => vec![
                Record::Address(Some("elsewhere.attack.test".into()), ip("127.0.0.1")),
                a(CONTROL),
            ],
            _ => vec![],
        }
    })
}

/// The control host: `/ok`, and `/redirect?to=URL` (percent-encoded) for the redirect chains.
async fn start_control() -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |OriginalUri(uri): OriginalUri| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(uri.to_string());
            match uri.query().and_then(|q| q.strip_prefix("to=")) {
                Some(to) if uri.path() == "/redirect" => {
                    let to = url::form_urlencoded::parse(format!("to={to}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    (
                        axum::http::StatusCode::FOUND,
                        [(axum::http::header::LOCATION, to)],
                        "",
                    )
                }
                _ => (
                    axum::http::StatusCode::OK,
                    [(axum::http::header::CONTENT_TYPE, "text/plain".to_string())],
                    "ok",
                ),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind((CONTROL, 80)).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    seen
}

/// blackbox.yml for the attacks; 0.28 adds the probers 0.23 lacks.
fn attack_config(dir: &TempDir, release: BlackboxRelease) -> String {
    let mut yaml = String::from(
        "modules:\n\
         \x20 http_2xx: {prober: http, timeout: 3s, http: {preferred_ip_protocol: ip4}}\n\
         \x20 http_ip6: {prober: http, timeout: 3s}\n\
         \x20 http_follow: {prober: http, timeout: 3s, http: {preferred_ip_protocol: ip4, follow_redirects: true}}\n\
         \x20 tcp_connect: {prober: tcp, timeout: 3s, tcp: {preferred_ip_protocol: ip4}}\n\
         \x20 tls_connect: {prober: tcp, timeout: 3s, tcp: {preferred_ip_protocol: ip4, tls: true}}\n\
         \x20 dns_query: {prober: dns, timeout: 3s, dns: {query_name: control.attack.test, preferred_ip_protocol: ip4}}\n",
    );
    if release == BlackboxRelease::Newest {
        yaml.push_str(
            "  grpc_plain: {prober: grpc, timeout: 3s, grpc: {preferred_ip_protocol: ip4}}\n\
             \x20 http3: {prober: http, timeout: 3s, http: {preferred_ip_protocol: ip4, enable_http3: true, enable_http2: false}}\n\
             \x20 websocket: {prober: websocket, timeout: 3s}\n",
        );
    }
    let path = dir.join(format!("attack-{release:?}.yml"));
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Rust,
    Python,
    Node,
}

impl Handler {
    /// The port in the function's package, under its runtime interface client; None for
    /// the layer's own Rust bootstrap.
    fn port(self) -> Option<HandlerPort> {
        match self {
            Handler::Rust => None,
            Handler::Python => Some(HandlerPort::Python),
            Handler::Node => Some(HandlerPort::Node),
        }
    }
}

struct Namespace {
    dir: TempDir,
    decoy_port: u16,
    decoys: Recorder,
    dns: DnsServer,
    control: Arc<Mutex<Vec<String>>>,
    rebinds: std::sync::atomic::AtomicUsize,
}

impl Namespace {
    /// A fresh name whose first answer is the control host and every later one loopback:
    /// the Rust handler's lookup sees the first, blackbox the next. The ports look
    /// nothing up, so blackbox would see the control: their names answer loopback from
    /// the start.
    fn rebind_name(&self, handler: Handler) -> String {
        let n = self
            .rebinds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match handler.port() {
            None => format!("rebind-{n}.attack.test"),
            Some(_) => format!("loop-{n}.attack.test"),
        }
    }

    async fn start_function(
        &self,
        handler: Handler,
        harness: Harness,
        extra: &[(&str, &str)],
    ) -> (Function, Option<TempDir>) {
        let config = attack_config(&self.dir, harness.blackbox);
        let mut env = vec![
            ("BLACKBOX_ALLOWED_TARGETS", ""),
            (CONFIG_VAR, config.as_str()),
            ("BLACKBOX_EXTENSION_LOG", "info"),
        ];
        env.extend_from_slice(extra);
        match handler.port() {
            None => (Function::start(harness, &env).await, None),
            Some(port) => {
                let (function, task) = port.start(harness, &format!("attack-{port:?}"), &env).await;
                (function, Some(task))
            }
        }
    }

    /// Every attack on one function; panics naming the first that got through.
    async fn attack(&self, handler: Handler, harness: Harness) {
        let what = format!("{handler:?} handler, {harness:?}");
        let (function, task) = self.start_function(handler, harness, &[]).await;
        function.assert_initialized();
        let d = self.decoy_port;
        let blackbox = function.blackbox_port;
        let runtime_api = function.runtime_api_port();
        let via_blackbox = encode(&format!(
            "http://127.0.0.1:{blackbox}/probe?target=127.0.0.1:{d}&module=tcp_connect"
        ));
        let mut attacks: Vec<(String, &str)> = vec![
            (format!("http://many.attack.test:{d}/"), "http_2xx"),
            (format!("many.attack.test:{d}"), "tcp_connect"),
            (format!("http://many.attack.test:{d}/"), "http_ip6"),
            (
                format!("http://{}:{d}/", self.rebind_name(handler)),
                "http_2xx",
            ),
            (format!("http://{}/", self.rebind_name(handler)), "http_2xx"),
            (format!("{}:{d}", self.rebind_name(handler)), "tcp_connect"),
            (format!("{}:{d}", self.rebind_name(handler)), "tls_connect"),
            (format!("{}:{d}", self.rebind_name(handler)), "dns_query"),
            (format!("127.0.0.1:{d}"), "dns_query"),
            (format!("http://loop.attack.test:{d}/"), "http_2xx"),
            (
                "http://metadata.attack.test/latest/meta-data/".into(),
                "http_2xx",
            ),
            (format!("cname.attack.test:{d}"), "tcp_connect"),
            (format!("stray.attack.test:{d}"), "tcp_connect"),
            (
                format!(
                    "http://control.attack.test/redirect?to={}",
                    encode(&format!("http://127.0.0.1:{d}/"))
                ),
                "http_follow",
            ),
            (
                format!(
                    "http://control.attack.test/redirect?to={}",
                    encode(&format!("http://{METADATA}/latest/meta-data/"))
                ),
                "http_follow",
            ),
            (
                format!(
                    "http://control.attack.test/redirect?to={}",
                    encode(&format!(
                        "http://{CONTAINER_CREDENTIALS}:{d}/v2/credentials"
                    ))
                ),
                "http_follow",
            ),
            (
                format!("http://control.attack.test/redirect?to={via_blackbox}"),
                "http_follow",
            ),
            (
                format!(
                    "http://{}:{runtime_api}/2018-06-01/runtime/invocation/next",
                    self.rebind_name(handler)
                ),
                "http_2xx",
            ),
        ];
        if harness.blackbox == BlackboxRelease::Newest {
            attacks.extend([
                (format!("{}:{d}", self.rebind_name(handler)), "grpc_plain"),
                (
                    format!("https://{}:{d}/", self.rebind_name(handler)),
                    "http3",
                ),
                (
                    format!("ws://{}:{d}/", self.rebind_name(handler)),
                    "websocket",
                ),
            ]);
        }
        let mut refused_early = 0;
        for (target, module) in &attacks {
            let answer = function.probe(&encode(target), module).await;
            let success = metric(&answer.body, "probe_success");
            let outcome = match (answer.status, success) {
                (403, _) => {
                    refused_early += 1;
                    "refused early"
                }
                (200, Some(0.0)) => "probe_success 0",
                // A prober this blackbox does not know.
                (400, None) if *module == "websocket" => "unknown prober",
                _ => panic!(
                    "{what}: {target} ({module}) answered {}: {}",
                    answer.status, answer.body
                ),
            };
            if handler == Handler::Rust && target.contains("many.attack.test") {
                assert!(
                    answer.status == 403 && answer.body.contains("as many as the C library keeps"),
                    "{what}: {target}: an answer of 60 addresses is refused early: {}",
                    answer.body
                );
            }
            let contacts = self
                .decoys
                .wait_for_contact(std::time::Duration::from_millis(20))
                .await;
            assert_eq!(
                contacts,
                [],
                "{what}: {target} ({module}) reached a decoy ({outcome})\n{}",
                function.logs()
            );
        }
        if handler.port().is_some() {
            assert_eq!(refused_early, 0, "{what}: a port checks no target");
        }

        // The controls get through, by name and through a redirect.
        for (target, module) in [
            ("http://control.attack.test/ok", "http_2xx"),
            ("control.attack.test:80", "tcp_connect"),
            (
                "http://control.attack.test/redirect?to=%2Fok",
                "http_follow",
            ),
        ] {
            let answer = function.probe(&encode(target), module).await;
            assert_eq!(
                (answer.status, metric(&answer.body, "probe_success")),
                (200, Some(1.0)),
                "{what}: control {target} ({module}): {}\n{}",
                answer.body,
                function.logs()
            );
        }
        let logs = function.logs();
        assert!(logs.contains("connect guard: on"), "{what}:\n{logs}");
        // The namespace, as a Lambda function outside a VPC, has no IPv6 route: the Rust
        // handler names at Init the module that would dial IPv6 first, and only it.
        if handler == Handler::Rust {
            assert!(
                logs.contains(
                    "module \"http_ip6\" prefers IPv6 (http.preferred_ip_protocol is unset, and \
                     blackbox's default is ip6) and this function has no IPv6 route"
                ),
                "{what}:\n{logs}"
            );
            assert_eq!(logs.matches("prefers IPv6").count(), 1, "{what}:\n{logs}");
        }
        for rule in [
            "rule=loopback",
            "rule=link-local",
            "rule=the Lambda Runtime API",
        ] {
            assert!(
                logs.contains(rule),
                "{what}: no refusal by {rule:?}:\n{logs}"
            );
        }
        function.shutdown().await.assert_no_process_left();
        drop(task);
    }
}

impl Namespace {
    /// Push mode: a Scheduler input whose probes attack as the scrapes did.
    async fn push_attack(&self, harness: Harness) {
        let receiver = Receiver::start(None, Vec::new()).await;
        let url = receiver.url();
        let (function, _) = self
            .start_function(
                Handler::Rust,
                harness,
                &[
                    ("BLACKBOX_REMOTE_WRITE_URL", url.as_str()),
                    ("BLACKBOX_REMOTE_WRITE_AUTH", "none"),
                ],
            )
            .await;
        let d = self.decoy_port;
        let probes = serde_json::json!({ "probes": [
            { "target": format!("{}:{d}", self.rebind_name(Handler::Rust)), "module": "tcp_connect" },
            { "target": format!("http://{}:{d}/", self.rebind_name(Handler::Rust)), "module": "http_2xx" },
            { "target": format!("http://control.attack.test/redirect?to=http://127.0.0.1:{d}/"), "module": "http_follow" },
            { "target": format!("many.attack.test:{d}"), "module": "tcp_connect" },
            { "target": "control.attack.test:80", "module": "tcp_connect" },
        ]});
        let answer = function.invoke(probes.to_string().into_bytes()).await;
        let summary: serde_json::Value = match answer.result() {
            Ok(body) => serde_json::from_str(body).unwrap(),
            Err(error) => panic!(
                "{harness:?}: the push run failed: {error}\n{}",
                function.logs()
            ),
        };
        assert_eq!(summary["targets"], 5, "{summary}");
        assert_eq!(
            summary["succeeded"], 1,
            "only the control succeeds: {summary}"
        );
        assert!(!receiver.received().is_empty(), "the results were written");
        let contacts = self
            .decoys
            .wait_for_contact(std::time::Duration::from_millis(50))
            .await;
        assert_eq!(
            contacts,
            [],
            "{harness:?}: a push run reached a decoy: {summary}"
        );
        function.shutdown().await.assert_no_process_left();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by attacks_through_the_layer_reach_no_decoy, in a namespace of its own"]
async fn in_a_namespace_of_its_own() {
    assert_eq!(
        std::env::var(NAMESPACE_VAR).as_deref(),
        Ok("1"),
        "this test runs only inside the namespace attacks_through_the_layer_reach_no_decoy makes"
    );
    let decoy_port = free_port();
    let mut decoys: Vec<SocketAddr> = [
        "127.0.0.1",
        "127.0.0.2",
        "::1",
        METADATA,
        CONTAINER_CREDENTIALS,
    ]
    .iter()
    .map(|ip| SocketAddr::new(ip.parse().unwrap(), decoy_port))
    .collect();
    for (ip, port) in [("127.0.0.1", 80), ("127.0.0.1", 443), (METADATA, 80)] {
        decoys.push(SocketAddr::new(ip.parse().unwrap(), port));
    }
    let namespace = Namespace {
        dir: TempDir::new("attacks"),
        decoy_port,
        decoys: Recorder::on(&decoys).await,
        dns: DnsServer::start(SocketAddr::new(NAMESERVER.parse().unwrap(), 53), zone()).await,
        control: start_control().await,
        rebinds: Default::default(),
    };

    let rie_with_layer_blackbox = Harness {
        platform: Platform::Rie,
        blackbox: BlackboxRelease::Layer,
    };
    for handler in [Handler::Rust, Handler::Python, Handler::Node] {
        for harness in [
            Harness::SANDBOX,
            Harness::RIE,
            Harness::SANDBOX_WITH_LAYER_BLACKBOX,
            rie_with_layer_blackbox,
        ] {
            namespace.attack(handler, harness).await;
        }
    }
    namespace.push_attack(Harness::SANDBOX).await;
    namespace.push_attack(rie_with_layer_blackbox).await;
    assert!(
        namespace.control.lock().unwrap().iter().any(|p| p == "/ok"),
        "the control host was reached"
    );

    // Without the guard, DNS rebinding gets past the Rust handler's own check: the
    // decoys do record what an unguarded layer lets through.
    let (function, _) = namespace
        .start_function(
            Handler::Rust,
            Harness::SANDBOX,
            &[("BLACKBOX_CONNECT_GUARD", "off")],
        )
        .await;
    let name = namespace.rebind_name(Handler::Rust);
    let answer = function
        .probe(&encode(&format!("{name}:{decoy_port}")), "tcp_connect")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        namespace.dns.asked(&name, TYPE_A) >= 2,
        "the handler and blackbox each asked for {name}"
    );
    let contacts = namespace
        .decoys
        .wait_for_contact(std::time::Duration::from_secs(2))
        .await;
    assert!(
        !contacts.is_empty(),
        "with the guard off the rebinding reaches loopback, so the decoys can tell:\n{}",
        function.logs()
    );
    assert!(function
        .logs()
        .contains("connect guard: off (BLACKBOX_CONNECT_GUARD=off)"));
    function.shutdown().await.assert_no_process_left();
}

/// The layer with its extension started by `forbid-seccomp`, where the `refused` system
/// calls fail with EPERM: the rest of the layer is the real one, linked.
fn layer_refusing(dir: &TempDir, refused: &str) -> std::path::PathBuf {
    let real = layer_dir();
    let layer = dir.join("layer");
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    for entry in std::fs::read_dir(&real).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "extensions" {
            std::os::unix::fs::symlink(entry.path(), layer.join(entry.file_name())).unwrap();
        }
    }
    let extension = layer.join("extensions/blackbox-extension");
    std::fs::write(
        &extension,
        format!(
            "#!/bin/sh\nexec '{}' --refuse {refused} '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_forbid-seccomp"),
            real.join("extensions/blackbox-extension").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&extension, std::fs::Permissions::from_mode(0o755)).unwrap();
    layer
}

const SECCOMP_REFUSED: &str =
    "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER): EPERM (Operation not permitted)";

async fn without_seccomp_auto_runs_blackbox_unguarded_and_says_why(harness: Harness) {
    auto_runs_unguarded_naming(harness, "seccomp", SECCOMP_REFUSED).await;
}

/// The self-test runs beside blackbox's start: a guard that fails after blackbox has
/// exec'd (here, taking the listener) must leave the listen port to the unguarded start.
async fn without_pidfd_getfd_auto_starts_blackbox_again_unguarded(harness: Harness) {
    auto_runs_unguarded_naming(
        harness,
        "pidfd_getfd",
        "taking blackbox's listener (pidfd_getfd): EPERM (Operation not permitted)",
    )
    .await;
}

/// With `refused` failing EPERM, `auto` probes unguarded and the Init log says why.
async fn auto_runs_unguarded_naming(harness: Harness, refused: &str, cause: &str) {
    let target = start_target().await;
    let dir = TempDir::new(&format!("no-{refused}"));
    let function = Function::launch(harness)
        .layer(&layer_refusing(&dir, refused))
        .start()
        .await;
    function.assert_initialized();
    let answer = function
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&answer);
    let logs = function.logs();
    assert!(
        logs.contains(&format!("connect guard: off ({cause})")),
        "{logs}"
    );
    function.shutdown().await.assert_no_process_left();
}

async fn without_seccomp_required_fails_init_naming_the_cause(harness: Harness) {
    let dir = TempDir::new("no-seccomp-required");
    let function = Function::launch(harness)
        .layer(&layer_refusing(&dir, "seccomp"))
        .env(&[("BLACKBOX_CONNECT_GUARD", "required")])
        .start()
        .await;
    let message = function
        .extension_init_failure("Extension.ConnectGuardUnavailable")
        .await;
    assert_eq!(
        message,
        format!(
            "the connect guard is unavailable and BLACKBOX_CONNECT_GUARD is required: {SECCOMP_REFUSED}"
        )
    );
    function.shutdown().await.assert_no_process_left();
}

async fn a_restarted_blackbox_is_guarded_too(harness: Harness) {
    let target = start_target().await;
    let decoy = Recorder::on_loopback().await;
    let dir = TempDir::new("restarted-guard");
    let config = follow_config(&dir);
    let function = Function::start(
        harness,
        &[
            (
                "BLACKBOX_ALLOWED_TARGETS",
                &format!("127.0.0.1:{}", target.addr.port()),
            ),
            (CONFIG_VAR, config.as_str()),
        ],
    )
    .await;
    function.assert_initialized();
    // RIE runs Init at the first invoke.
    let first = function
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&first);
    let before = function.blackbox_pids();
    assert_eq!(before.len(), 1, "{:?}", function.processes());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[0]),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    let listed = function
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&listed);
    assert_ne!(function.blackbox_pids(), before, "blackbox was restarted");
    // Read as the Rust handler's early check reads it, the decoy is refused (403); the
    // redirect gets past it, and the new blackbox's guard stops it.
    let redirect = format!(
        "http://{}/redirect?to=http://127.0.0.1:{}/",
        target.addr, decoy.port
    );
    let answer = function.probe(&encode(&redirect), "http_follow").await;
    assert_eq!(
        (answer.status, metric(&answer.body, "probe_success")),
        (200, Some(0.0)),
        "{}",
        answer.body
    );
    assert_eq!(decoy.contacts(), [], "{}", function.logs());
    assert!(
        function
            .logs()
            .contains(&format!("destination=127.0.0.1:{}", decoy.port)),
        "{}",
        function.logs()
    );
    function.shutdown().await.assert_no_process_left();
}

/// Where a seccomp profile refuses process_vm_readv (Docker's does without CAP_SYS_PTRACE),
/// the guard reads the caller's address through /proc/<pid>/mem and stays on.
async fn without_process_vm_readv_the_guard_reads_proc_mem(harness: Harness) {
    let target = start_target().await;
    let decoy = Recorder::on_loopback().await;
    let dir = TempDir::new("no-process-vm-readv");
    let config = follow_config(&dir);
    let function = Function::launch(harness)
        .layer(&layer_refusing(&dir, "process_vm_readv"))
        .env(&[
            (
                "BLACKBOX_ALLOWED_TARGETS",
                &format!("127.0.0.1:{}", target.addr.port()),
            ),
            (CONFIG_VAR, config.as_str()),
        ])
        .start()
        .await;
    function.assert_initialized();
    let listed = function
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&listed);
    // The self-test's allowed connection was read through /proc/<pid>/mem; so is this one.
    assert!(
        function.logs().contains("connect guard: on"),
        "{}",
        function.logs()
    );
    let redirect = format!(
        "http://{}/redirect?to=http://127.0.0.1:{}/",
        target.addr, decoy.port
    );
    let answer = function.probe(&encode(&redirect), "http_follow").await;
    assert_eq!(
        metric(&answer.body, "probe_success"),
        Some(0.0),
        "{}",
        answer.body
    );
    assert_eq!(decoy.contacts(), [], "{}", function.logs());
    function.shutdown().await.assert_no_process_left();
}

/// http_2xx and http_follow (follow_redirects: true), IPv4.
fn follow_config(dir: &TempDir) -> String {
    let config = dir.join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx: {prober: http, http: {preferred_ip_protocol: ip4}}\n  \
         http_follow: {prober: http, http: {preferred_ip_protocol: ip4, follow_redirects: true}}\n",
    )
    .unwrap();
    config.to_str().unwrap().to_string()
}
