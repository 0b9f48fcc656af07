//! Push mode end to end: the layer invoked as EventBridge would invoke it (a Scheduler input
//! listing probes, an EventBridge rule's `Scheduled Event` falling back to the targets file)
//! probes real targets on loopback through the real blackbox_exporter and remote-writes the
//! results into a real Prometheus's receiver (Debian's 2.x and sid's 3.x), whose query API
//! must then show what a scrape would have stored. Then the faults: a receiver that is
//! down, fails once, refuses, asks to wait, or stalls past the deadline; a target that
//! hangs; 200 targets in one invocation.
#![cfg(feature = "layer")]

use std::path::Path;
use std::time::{Duration, Instant};

use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::prometheus::{prometheus_bin, series, sid_prometheus, Prometheus};
use lambda_blackbox_e2e::receiver::{Receiver, Step};
use lambda_blackbox_e2e::*;
use serde_json::{json, Value};

both_harnesses!(
    a_scheduler_input_and_a_scheduled_event_land_in_prometheus_2_and_3,
    sigv4_requests_pass_botocore_s_check_and_a_wrong_secret_is_refused
);
one_harness!(
    faults,
    SANDBOX,
    a_receiver_that_is_down_fails_the_invocation_with_the_summary,
    a_500_is_retried_and_the_same_samples_land_once,
    a_429_waits_its_retry_after,
    a_400_is_not_retried_and_the_summary_says_why,
    a_receiver_slower_than_the_deadline_fails_before_it,
    a_hanging_target_fails_alone_within_the_deadline,
    two_hundred_targets_in_one_invocation,
    push_every_runs_rounds_within_the_invocation,
    a_push_run_without_push_mode_says_how_to_turn_it_on
);

const REGION: &str = "us-east-1";

fn event_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The push settings for a receiver at `url`, beside `extra`.
fn push_env<'a>(url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("BLACKBOX_REMOTE_WRITE_URL", url),
        ("BLACKBOX_REMOTE_WRITE_AUTH", "none"),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "10"),
    ];
    for (name, value) in extra {
        env.retain(|(n, _)| n != name);
        env.push((name, value));
    }
    env
}

async fn started(harness: Harness, env: &[(&str, &str)]) -> Function {
    let function = Function::start(harness, env).await;
    function.assert_initialized();
    function
}

fn probes(list: &[(&str, &str)]) -> Vec<u8> {
    let probes: Vec<Value> = list
        .iter()
        .map(|(target, module)| json!({"target": target, "module": module}))
        .collect();
    json!({ "probes": probes }).to_string().into_bytes()
}

/// The invocation's summary; panics with the logs if it failed.
async fn push_run(function: &Function, event: Vec<u8>) -> Value {
    let answer = function.invoke(event).await;
    match answer.result() {
        Ok(body) => serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
        Err(error) => panic!("the push run failed: {error}\n{}", function.logs()),
    }
}

/// The invocation's error document; panics if it succeeded.
async fn failed_push_run(function: &Function, event: Vec<u8>) -> Value {
    let answer = function.invoke(event).await;
    match answer.result() {
        Ok(body) => panic!("the push run succeeded: {body}"),
        Err(error) => serde_json::from_str(error).unwrap_or_else(|e| panic!("{e}: {error}")),
    }
}

/// The one value `promql` returns, `None` for no series.
async fn value(prometheus: &Prometheus, client: &reqwest::Client, promql: &str) -> Option<f64> {
    let (status, answer) = prometheus.query(client, promql).await;
    assert_eq!(status, 200, "{promql}: {answer}");
    let found = series(&answer);
    assert!(found.len() <= 1, "{promql}: more than one series: {answer}");
    found.first().map(|(_, v)| *v)
}

async fn receiving(binary: &Path, dir: &Path) -> (Prometheus, reqwest::Client) {
    let client = reqwest::Client::new();
    let mut prometheus = Prometheus::start_receiver(binary, dir, None, &[]);
    prometheus.wait_ready(&client).await;
    (prometheus, client)
}

async fn a_scheduler_input_and_a_scheduled_event_land_in_prometheus_2_and_3(harness: Harness) {
    let up = start_target().await;
    let up_url = format!("http://{}/", up.addr);
    let up_tcp = up.addr.to_string();
    let down = format!("http://127.0.0.1:{}/", free_port());
    // Loopback, but not the address the allow list names: refused before any dial.
    let refused = format!("http://127.0.0.2:{}/", up.addr.port());

    for (release, binary) in [("2.x", prometheus_bin()), ("3.x", sid_prometheus())] {
        let dir = TempDir::new("push-mode");
        let (prometheus, client) = receiving(&binary, dir.path()).await;
        let targets = dir.path().join("targets.txt");
        std::fs::write(
            &targets,
            format!("# from the targets file\n{up_tcp} tcp_connect\n"),
        )
        .unwrap();
        let url = prometheus.url("/api/v1/write");
        let function = started(
            harness,
            &push_env(
                &url,
                &[
                    ("BLACKBOX_PUSH_TARGETS_FILE", targets.to_str().unwrap()),
                    ("BLACKBOX_PUSH_LABELS", "team=sre"),
                ],
            ),
        )
        .await;

        let input = event_file("scheduler-input.json")
            .replace("https://example.com", &up_url)
            .replace("example.com:443", &refused)
            .replace("tcp_connect", "http_2xx");
        let mut event: Value = serde_json::from_str(&input).unwrap();
        event["probes"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "target": down }));
        let summary = push_run(&function, event.to_string().into_bytes()).await;
        assert_eq!(summary["targets"], 3, "{release}: {summary}");
        assert_eq!(summary["succeeded"], 1, "{release}: {summary}");
        assert_eq!(summary["failed"][0]["target"], down.as_str(), "{summary}");
        assert_eq!(
            summary["failed"][0]["reason"], "probe_success 0",
            "{summary}"
        );
        assert_eq!(
            summary["refused"][0]["target"],
            refused.as_str(),
            "{summary}"
        );
        assert!(
            summary["refused"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("BLACKBOX_ALLOWED_TARGETS"),
            "{summary}"
        );
        assert!(summary["write_error"].is_null(), "{summary}");
        assert!(
            summary["samples_written"].as_u64().unwrap() > 20,
            "{summary}"
        );
        assert_eq!(summary["samples_written"], summary["samples"], "{summary}");

        let scheduled = push_run(&function, event_file("scheduled-event.json").into_bytes()).await;
        assert_eq!(scheduled["targets"], 1, "{release}: {scheduled}");
        assert_eq!(scheduled["succeeded"], 1, "{release}: {scheduled}");

        let labels = |instance: &str, module: &str| {
            format!(
                "job=\"lambda-blackbox\",instance=\"{instance}\",module=\"{module}\",region=\"{REGION}\",team=\"sre\""
            )
        };
        let ask = |promql: String| {
            let (prometheus, client) = (&prometheus, &client);
            async move { value(prometheus, client, &promql).await }
        };
        let up_labels = labels(&up_url, "http_2xx");
        assert_eq!(
            ask(format!("probe_success{{{up_labels}}}")).await,
            Some(1.0),
            "{release}"
        );
        assert_eq!(
            ask(format!("probe_http_status_code{{{up_labels}}}")).await,
            Some(200.0),
            "{release}"
        );
        assert_eq!(
            ask(format!("up{{{up_labels}}}")).await,
            Some(1.0),
            "{release}"
        );
        assert!(ask(format!("scrape_duration_seconds{{{up_labels}}}"))
            .await
            .is_some());
        let down_labels = labels(&down, "http_2xx");
        assert_eq!(
            ask(format!("probe_success{{{down_labels}}}")).await,
            Some(0.0),
            "{release}"
        );
        assert_eq!(
            ask(format!("up{{{down_labels}}}")).await,
            Some(1.0),
            "{release}"
        );
        // A refused target is what a refused scrape stores: up 0 and no probe series.
        let refused_labels = labels(&refused, "http_2xx");
        assert_eq!(
            ask(format!("up{{{refused_labels}}}")).await,
            Some(0.0),
            "{release}"
        );
        assert_eq!(
            ask(format!("probe_success{{{refused_labels}}}")).await,
            None,
            "{release}"
        );
        assert_eq!(
            ask(format!(
                "probe_success{{{}}}",
                labels(&up_tcp, "tcp_connect")
            ))
            .await,
            Some(1.0),
            "{release}: the targets file's probe"
        );
        assert!(
            !prometheus.log().contains("level=error") && !prometheus.log().contains("level=ERROR"),
            "{release}: {}",
            prometheus.log()
        );
        function.shutdown().await.assert_no_process_left();
    }
}

async fn a_receiver_that_is_down_fails_the_invocation_with_the_summary(harness: Harness) {
    let up = start_target().await;
    let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let function = started(
        harness,
        &push_env(&url, &[("AWS_LAMBDA_FUNCTION_TIMEOUT", "4")]),
    )
    .await;
    let error = failed_push_run(
        &function,
        probes(&[(&format!("http://{}/", up.addr), "http_2xx")]),
    )
    .await;
    assert_eq!(error["errorType"], "PushMode.WriteFailed", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        message.contains("\"succeeded\":1"),
        "the summary comes along: {message}"
    );
    assert!(message.contains("\"samples_written\":0"), "{message}");
    assert!(
        !message.contains("\"retries\":0"),
        "the refused connections were retried: {message}"
    );
    assert!(
        function.logs().contains("remote write: "),
        "the retries are logged: {}",
        function.logs()
    );
}

async fn a_500_is_retried_and_the_same_samples_land_once(harness: Harness) {
    let dir = TempDir::new("push-500");
    let (prometheus, client) = receiving(&sid_prometheus(), dir.path()).await;
    let receiver = Receiver::start(
        Some(prometheus.url("/api/v1/write")),
        vec![Step::Answer(500, None), Step::Forward],
    )
    .await;
    let up = start_target().await;
    let target = format!("http://{}/", up.addr);
    let function = started(harness, &push_env(&receiver.url(), &[])).await;
    let summary = push_run(&function, probes(&[(&target, "http_2xx")])).await;
    assert_eq!(summary["retries"], 1, "{summary}");
    assert_eq!(summary["samples_written"], summary["samples"], "{summary}");
    let received = receiver.received();
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 204],
        "one retry, taken by Prometheus"
    );
    assert_eq!(received[0].body, received[1].body, "the same request again");
    assert_eq!(
        received[0].headers["content-encoding"], "snappy",
        "{:?}",
        received[0].headers
    );
    assert_eq!(
        received[0].headers["content-type"],
        "application/x-protobuf"
    );
    assert_eq!(
        received[0].headers["x-prometheus-remote-write-version"],
        "0.1.0"
    );
    let count = value(
        &prometheus,
        &client,
        &format!("count_over_time(probe_success{{instance=\"{target}\"}}[5m])"),
    )
    .await;
    assert_eq!(count, Some(1.0), "one sample, stored once");
}

async fn a_429_waits_its_retry_after(harness: Harness) {
    let receiver = Receiver::start(None, vec![Step::Answer(429, Some("1")), Step::Forward]).await;
    let up = start_target().await;
    let function = started(harness, &push_env(&receiver.url(), &[])).await;
    let summary = push_run(
        &function,
        probes(&[(&format!("http://{}/", up.addr), "tcp_connect")]),
    )
    .await;
    assert_eq!(summary["retries"], 1, "{summary}");
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let waited = received[1].at - received[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was honoured: {waited:?}"
    );
}

async fn a_400_is_not_retried_and_the_summary_says_why(harness: Harness) {
    let receiver = Receiver::start(None, vec![Step::Answer(400, None)]).await;
    let up = start_target().await;
    let function = started(harness, &push_env(&receiver.url(), &[])).await;
    let error = failed_push_run(
        &function,
        probes(&[(&format!("http://{}/", up.addr), "http_2xx")]),
    )
    .await;
    assert_eq!(error["errorType"], "PushMode.WriteFailed", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("the receiver refused the request with 400 (not retried: the request is at fault): scripted 400"),
        "{message}"
    );
    assert_eq!(receiver.received().len(), 1, "not retried");
    let wrong = failed_push_run(&function, br#"{"probes": [{"module": "tls"}]}"#.to_vec()).await;
    assert_eq!(wrong["errorType"], "PushMode.InvalidEvent", "{wrong}");
    assert_eq!(
        wrong["errorMessage"], "the push run's event is wrong: probes[0]: no target",
        "{wrong}"
    );
    assert_eq!(receiver.received().len(), 1, "nothing probed or written");
}

async fn a_receiver_slower_than_the_deadline_fails_before_it(harness: Harness) {
    let receiver = Receiver::start(None, vec![Step::Stall(Duration::from_secs(30))]).await;
    let up = start_target().await;
    let function = started(
        harness,
        &push_env(&receiver.url(), &[("AWS_LAMBDA_FUNCTION_TIMEOUT", "4")]),
    )
    .await;
    let started_at = Instant::now();
    let error = failed_push_run(
        &function,
        probes(&[(&format!("http://{}/", up.addr), "http_2xx")]),
    )
    .await;
    let took = started_at.elapsed();
    assert_eq!(
        error["errorType"], "PushMode.WriteFailed",
        "not a timeout: {error}"
    );
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{error}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(
        receiver.received().len(),
        0,
        "the stalled request never completed"
    );
}

async fn a_hanging_target_fails_alone_within_the_deadline(harness: Harness) {
    // Accepts and never answers.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/", hanging.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = hanging.accept().await {
            open.push(stream);
        }
    });
    let receiver = Receiver::start(None, Vec::new()).await;
    let up = start_target().await;
    let fast: Vec<String> = (0..6).map(|i| format!("http://{}/f{i}", up.addr)).collect();
    // Two slots, the hanging target first: it must hold one slot, not the queue behind it.
    let function = started(
        harness,
        &push_env(
            &receiver.url(),
            &[
                ("AWS_LAMBDA_FUNCTION_TIMEOUT", "6"),
                ("BLACKBOX_PUSH_CONCURRENCY", "2"),
            ],
        ),
    )
    .await;
    let mut list = vec![(hanging_url.as_str(), "http_2xx")];
    list.extend(fast.iter().map(|t| (t.as_str(), "http_2xx")));
    let started_at = Instant::now();
    let summary = push_run(&function, probes(&list)).await;
    let took = started_at.elapsed();
    assert_eq!(summary["succeeded"], 6, "{summary}");
    assert_eq!(summary["not_run"].as_array().unwrap().len(), 0, "{summary}");
    assert_eq!(
        summary["failed"][0]["target"],
        hanging_url.as_str(),
        "{summary}"
    );
    assert!(
        summary["failed"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("probe_success 0"),
        "blackbox ended the probe itself, before the handler's cut-off: {summary}"
    );
    assert!(summary["write_error"].is_null(), "{summary}");
    // The module's own timeout (10 s) was cut to the time kept for probing.
    assert!(
        took >= Duration::from_secs(3),
        "the hanging probe waited: {took:?}"
    );
    held.abort();
}

async fn two_hundred_targets_in_one_invocation(harness: Harness) {
    let dir = TempDir::new("push-200");
    let (prometheus, client) = receiving(&sid_prometheus(), dir.path()).await;
    let up = start_target().await;
    let targets: Vec<String> = (0..200)
        .map(|i| format!("http://{}/t{i}", up.addr))
        .collect();
    let list: Vec<(&str, &str)> = targets.iter().map(|t| (t.as_str(), "http_2xx")).collect();
    let url = prometheus.url("/api/v1/write");
    let function = started(
        harness,
        &push_env(&url, &[("AWS_LAMBDA_FUNCTION_TIMEOUT", "30")]),
    )
    .await;
    let summary = push_run(&function, probes(&list)).await;
    assert_eq!(summary["succeeded"], 200, "{summary}");
    assert_eq!(summary["samples_written"], summary["samples"], "{summary}");
    assert_eq!(
        up.seen.lock().unwrap().len(),
        200,
        "each target probed once"
    );
    let count = value(
        &prometheus,
        &client,
        "count(probe_success{job=\"lambda-blackbox\"} == 1)",
    )
    .await;
    assert_eq!(count, Some(200.0));
}

async fn a_push_run_without_push_mode_says_how_to_turn_it_on(harness: Harness) {
    let function = started(harness, &[]).await;
    let error = failed_push_run(&function, event_file("scheduled-event.json").into_bytes()).await;
    assert_eq!(error["errorType"], "PushMode.NotConfigured", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("BLACKBOX_REMOTE_WRITE_URL"),
        "{error}"
    );
}

/// The SigV4 checker (e2e/receivers/sigv4_verifier.py, botocore from SAM's environment) in
/// front of Prometheus, for these credentials; killed when dropped.
struct Sigv4Verifier {
    child: std::process::Child,
    url: String,
}

const ACCESS_KEY: &str = "ASIAEXAMPLEPUSHMODE";
const SECRET_KEY: &str = "push-mode-secret/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "push-mode-session-token-IQoJb3JpZ2luX2VjE";

impl Sigv4Verifier {
    async fn start(dir: &Path, forward_to: &str) -> Sigv4Verifier {
        let sam = std::env::var_os("LAMBDA_BLACKBOX_SAM")
            .expect("LAMBDA_BLACKBOX_SAM is not set: run the tests with `make test`");
        let python = Path::new(&sam).with_file_name("python3");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("receivers/sigv4_verifier.py");
        let port_file = dir.join("verifier.port");
        let log = std::fs::File::create(dir.join("verifier.log")).unwrap();
        let child = std::process::Command::new(python)
            .arg(script)
            .arg(&port_file)
            .args([forward_to, ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, REGION])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 of SAM's environment");
        let until = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                break port;
            }
            assert!(
                Instant::now() < until,
                "the verifier did not start: {}",
                Sigv4Verifier::log_of(dir)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Sigv4Verifier {
            child,
            url: format!("http://127.0.0.1:{port}/workspaces/ws-push/api/v1/remote_write"),
        }
    }

    fn log_of(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("verifier.log")).unwrap_or_default()
    }
}

impl Drop for Sigv4Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sigv4_requests_pass_botocore_s_check_and_a_wrong_secret_is_refused(harness: Harness) {
    let dir = TempDir::new("push-sigv4");
    let (prometheus, client) = receiving(&sid_prometheus(), dir.path()).await;
    let verifier = Sigv4Verifier::start(dir.path(), &prometheus.url("/api/v1/write")).await;
    let up = start_target().await;
    let target = format!("http://{}/", up.addr);
    let signed = |secret: &'static str| {
        vec![
            ("BLACKBOX_REMOTE_WRITE_URL", verifier.url.as_str()),
            ("BLACKBOX_REMOTE_WRITE_AUTH", "sigv4"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ]
    };
    let function = started(harness, &signed(SECRET_KEY)).await;
    let summary = push_run(&function, probes(&[(&target, "http_2xx")])).await;
    assert_eq!(summary["samples_written"], summary["samples"], "{summary}");
    assert_eq!(
        Sigv4Verifier::log_of(dir.path())
            .lines()
            .collect::<Vec<_>>(),
        ["verified"]
    );
    assert_eq!(
        value(
            &prometheus,
            &client,
            &format!("probe_success{{instance=\"{target}\"}}")
        )
        .await,
        Some(1.0)
    );
    assert!(
        !function.logs().contains(SECRET_KEY) && !function.logs().contains(SESSION_TOKEN),
        "no secret in a log line"
    );
    function.shutdown().await;

    let wrong = started(harness, &signed("not-the-secret")).await;
    let error = failed_push_run(&wrong, probes(&[(&target, "http_2xx")])).await;
    assert_eq!(error["errorType"], "PushMode.WriteFailed", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("refused the request with 403 (not retried: the request is at fault): the signature does not match"),
        "{error}"
    );
    assert!(Sigv4Verifier::log_of(dir.path()).ends_with("refused: the signature does not match\n"));
}

async fn push_every_runs_rounds_within_the_invocation(harness: Harness) {
    let receiver = Receiver::start(None, Vec::new()).await;
    let up = start_target().await;
    let target = format!("http://{}/", up.addr);
    // 12 s: rounds at 0 s and 5 s fit, one at 10 s would end past the time.
    let function = started(
        harness,
        &push_env(
            &receiver.url(),
            &[
                ("BLACKBOX_PUSH_EVERY", "5s"),
                ("AWS_LAMBDA_FUNCTION_TIMEOUT", "12"),
            ],
        ),
    )
    .await;
    let summary = push_run(&function, probes(&[(&target, "http_2xx")])).await;
    assert_eq!(summary["rounds"], 2, "{summary}");
    assert_eq!(
        summary["targets"], 2,
        "one target in each of two rounds: {summary}"
    );
    assert_eq!(summary["succeeded"], 2, "{summary}");
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one write a round");
    let apart = received[1].at - received[0].at;
    // Each round starts on its 5 s mark; its probe and write take a little of it.
    assert!(
        apart >= Duration::from_millis(4000) && apart < Duration::from_millis(7000),
        "rounds 5 s apart: {apart:?}"
    );
    assert_eq!(up.seen.lock().unwrap().len(), 2, "probed once a round");
}
