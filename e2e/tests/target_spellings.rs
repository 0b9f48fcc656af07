//! The SSRF class of issue 8, tried as an attacker tries it: target spellings that Go's
//! URL parser, the probers and the target policy could read differently, sent through the
//! real layer (Debian sid's blackbox_exporter 0.28, which has the grpc prober) to every
//! default module and two grpc modules, with listeners on loopback recording every
//! connection. None may get through; the same listeners do see the probes the allow
//! list admits, so a recorder that saw nothing is proof, not a deaf ear. The sandbox and
//! RIE take it in turn.
#![cfg(feature = "layer")]

use std::time::Duration;

use lambda_blackbox_contract::{blackbox_config_path, CONFIG_VAR};
use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::recorder::Recorder;
use lambda_blackbox_e2e::{encode, layer_dir, metric, sid_blackbox, TempDir};

const MODULES: [&str; 7] = [
    "http_2xx",
    "http_post_2xx",
    "tcp_connect",
    "dns",
    "tls",
    "grpc",
    "grpc_tls",
];

const GRPC_MODULES: &str = r#"
  grpc:
    prober: grpc
    timeout: 5s
    grpc:
      preferred_ip_protocol: ip4
  grpc_tls:
    prober: grpc
    timeout: 5s
    grpc:
      tls: true
      tls_config:
        insecure_skip_verify: true
      preferred_ip_protocol: ip4
"#;

/// The layer's own blackbox.yml with the grpc modules added, run by sid's blackbox.
async fn start(harness: Harness, dir: &TempDir, allowed: &str) -> Function {
    let shipped = std::fs::read_to_string(blackbox_config_path(None, &layer_dir(), false))
        .expect("the layer's blackbox.yml");
    let config_path = dir.join("blackbox.yml");
    std::fs::write(&config_path, format!("{shipped}{GRPC_MODULES}")).unwrap();
    let blackbox = sid_blackbox();
    let env = [
        ("BLACKBOX_ALLOWED_TARGETS", allowed),
        (CONFIG_VAR, config_path.to_str().unwrap()),
        ("BLACKBOX_EXPORTER_BIN", blackbox.to_str().unwrap()),
    ];
    Function::start(harness, &env).await
}

/// At least 20 spellings of loopback and the metadata address in this class: unbracketed
/// IPv6 with a port, mapped and NAT64 forms, upper case, schemes, paths, userinfo, an
/// encoded colon, and the bracketed form grpc-go re-reads.
fn spellings(port: u16) -> Vec<String> {
    let p = port;
    [
        format!("::ffff:7f00:1:{p}"),
        format!("::FFFF:7F00:1:{p}"),
        format!("0:0:0:0:0:ffff:7f00:1:{p}"),
        format!("0::ffff:7f00:0001:{p}"),
        format!("::ffff:127.0.0.1:{p}"),
        format!("::1:{p}"),
        format!("64:ff9b::7f00:1:{p}"),
        format!("http://::ffff:7f00:1:{p}/"),
        format!("https://::ffff:7f00:1:{p}/"),
        format!("HTTP://::FFFF:7F00:1:{p}/"),
        format!("hTtPs://::ffff:7f00:1:{p}/-/reload"),
        format!("http://::1:{p}/"),
        format!("http://good.example@::ffff:7f00:1:{p}/"),
        format!("http://u:pw@::ffff:7f00:1:{p}/path?x=1"),
        format!("::ffff:7f00:1%3A{p}"),
        format!("http://::ffff:7f00:1%3A{p}/"),
        format!("::ffff:7f00:1:{p}/2018-06-01/runtime/invocation/next"),
        format!("[::ffff:7f00:1]:{p}"),
        format!("[::ffff:127.0.0.1]:{p}"),
        format!("[::1]:{p}"),
        format!("http://[::ffff:7f00:1]:{p}/"),
        format!("HTTPS://[::FFFF:7F00:1]:{p}/"),
        format!("http://good.example@[::ffff:7f00:1]:{p}/"),
        format!("[64:ff9b::7f00:1]:{p}"),
        format!("[::ffff:7f00:1%25lo]:{p}"),
        "[::ffff:7f00]:1".to_string(),
        "::ffff:7f00:1".to_string(),
        "http://::ffff:7f00:1/".to_string(),
        "::ffff:a9fe:a9fe:80".to_string(),
        "http://::ffff:a9fe:a9fe:80/latest/meta-data/".to_string(),
    ]
    .into()
}

/// One test, not four: the recorder holds the fixed default ports, and the control's
/// contacts must not land in the refusals' record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_loopback_reaches_it_and_the_allowed_probes_do() {
    let recorder = Recorder::start().await;
    for harness in [Harness::SANDBOX, Harness::RIE] {
        nothing_gets_through(harness, &recorder).await;
        the_recorder_hears_each_module_when_the_allow_list_admits_it(harness, &recorder).await;
    }
}

async fn nothing_gets_through(harness: Harness, recorder: &Recorder) {
    // What the previous harness's control probes sent is not this harness's record.
    tokio::time::sleep(Duration::from_millis(500)).await;
    recorder.clear();
    let dir = TempDir::new("target-spellings");
    // The production default: no allow list, so the default deny list applies.
    let layer = start(harness, &dir, "").await;
    let forms = spellings(recorder.port);
    assert!(forms.len() >= 20);
    let mut refusals = Vec::new();
    let mut admitted: Vec<String> = Vec::new();
    for module in MODULES {
        for target in &forms {
            // As Prometheus sends it (URL-encoded), and once more raw.
            for sent in [encode(target), target.clone()] {
                let answer = layer
                    .get(
                        &format!("/probe?module={module}&target={sent}"),
                        &[("X-Prometheus-Scrape-Timeout-Seconds", "1")],
                    )
                    .await;
                // Admitted only where no prober reads loopback into it (the http
                // prober dials [::ffff:7f00]:1 as the IPv6 address it is), and then the
                // probe fails: nothing listens there.
                if answer.status == 200 {
                    assert_eq!(
                        metric(&answer.body, "probe_success"),
                        Some(0.0),
                        "{module} {sent}: {}",
                        answer.body
                    );
                    admitted.push(format!("{module} {target}"));
                    continue;
                }
                assert!(
                    answer.status == 400 || answer.status == 403,
                    "{module} {sent}: {} {}",
                    answer.status,
                    answer.body
                );
                assert_eq!(
                    answer.body.lines().count(),
                    1,
                    "{module} {sent}: {}",
                    answer.body
                );
                refusals.push(answer.body);
            }
        }
    }
    assert_eq!(
        refusals.len() + admitted.len(),
        MODULES.len() * forms.len() * 2
    );
    // Most of the class is refused outright; what is admitted names no loopback address.
    assert!(
        admitted.len() * 10 < refusals.len(),
        "admitted: {admitted:?}"
    );
    eprintln!("admitted (each probe failed, no contact): {admitted:?}");
    // The unbracketed form is refused for what it is, not as loopback by luck.
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("an IPv6 address with a port must be in brackets")),
        "{refusals:?}"
    );
    // Let any probe that slipped through arrive before looking.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(recorder.contacts(), vec![], "{harness:?}: {}", layer.logs());
    layer.shutdown().await.assert_no_process_left();
}

/// The control: with the listener's address allowed, each module's probe reaches it,
/// so the recorder hears what these modules send.
async fn the_recorder_hears_each_module_when_the_allow_list_admits_it(
    harness: Harness,
    recorder: &Recorder,
) {
    let dir = TempDir::new("target-spellings-allowed");
    let layer = start(harness, &dir, "127.0.0.1").await;
    let p = recorder.port;
    let controls = [
        ("http_2xx", format!("http://127.0.0.1:{p}/"), "tcp"),
        ("http_post_2xx", format!("http://127.0.0.1:{p}/"), "tcp"),
        ("tcp_connect", format!("127.0.0.1:{p}"), "tcp"),
        ("dns", format!("127.0.0.1:{p}"), "udp"),
        ("tls", format!("127.0.0.1:{p}"), "tcp"),
        ("grpc", format!("127.0.0.1:{p}"), "tcp"),
        ("grpc_tls", format!("127.0.0.1:{p}"), "tcp"),
        // The same address in a spelling the policy reads as it: admitted too.
        ("tcp_connect", format!("[::ffff:7f00:1]:{p}"), "tcp"),
    ];
    for (module, target, transport) in controls {
        recorder.clear();
        let answer = layer
            .get(
                &format!("/probe?module={module}&target={}", encode(&target)),
                &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
            )
            .await;
        assert_eq!(answer.status, 200, "{module} {target}: {}", answer.body);
        assert!(
            metric(&answer.body, "probe_success").is_some(),
            "{}",
            answer.body
        );
        let contacts = recorder.wait_for_contact(Duration::from_secs(3)).await;
        assert!(
            contacts
                .iter()
                .any(|c| c.listener.port() == p && c.transport == transport),
            "{harness:?} {module} {target}: {contacts:?}"
        );
    }
    // The unbracketed form stays refused even where its loopback reading is allowed.
    let unbracketed = layer
        .probe(&format!("::ffff:7f00:1:{p}"), "tcp_connect")
        .await;
    assert_eq!(unbracketed.status, 400, "{}", unbracketed.body);
    layer.shutdown().await.assert_no_process_left();
}
