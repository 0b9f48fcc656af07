//! Safe to expose: auth, what may be asked, the target policy against SSRF, bad input,
//! and faults, all through the real layer, under both harnesses (the sandbox and RIE)
//! but for what only the sandbox does (replacing a broken environment, Ctrl-C).
#![cfg(feature = "layer")]

use std::time::{Duration, Instant};

use lambda_blackbox_contract::replacement::EXTENSION_COMM;
use lambda_blackbox_contract::{CONFIG_VAR, LISTEN_ADDRESS_VAR};
use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

both_harnesses!(
    requests_need_the_bearer_token,
    iam_authenticated_requests_skip_the_token_only_when_trusted,
    only_probe_is_served_by_default,
    ssrf_bypass_forms_are_refused_by_default,
    the_default_modules_do_not_follow_redirects,
    the_allow_list_admits_only_its_entries_and_never_the_runtime_api,
    a_malformed_event_is_an_error_invocation_and_the_handler_lives_on,
    blackbox_killed_during_a_probe_is_a_502_and_the_next_probe_succeeds,
    a_hung_blackbox_is_a_504_within_the_scrape_timeout_and_is_replaced,
);

const TOKEN: &str = "tok-3f9c2d7e-5b1a";

/// blackbox at its most talkative: since 0.25 a probe's own lines ("Beginning probe")
/// need --log.prober as well as --log.level.
const PROBE_LOGS: &str = "--log.level=debug --log.prober=debug";

/// A host name the resolver fails without sending a query (a label longer than the 63
/// octets DNS allows), so no lookup leaves the machine.
fn unresolvable_name() -> String {
    format!("{}.invalid", "a".repeat(64))
}

/// A host name other than `localhost` that the system resolver maps to loopback
/// (Debian puts the machine's name on 127.0.1.1; CI adds one to /etc/hosts).
fn loopback_alias() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .filter(|l| l.starts_with("127."))
        .flat_map(|l| l.split_whitespace().skip(1))
        .find(|name| !name.contains("localhost") && !name.starts_with('#'))
        .map(str::to_string)
        .expect("/etc/hosts has no name for a loopback address besides localhost; add one, e.g. `127.0.1.1 lambda-blackbox-loopback.test`")
}

async fn requests_need_the_bearer_token(harness: Harness) {
    let target = start_target().await;
    // Every component at its most talkative, and a module with secret header values.
    let dir = TempDir::new("secrets");
    let config = dir.join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    http:\n      headers:\n        X-Api-Key: module-header-s3cret\n      basic_auth:\n        username: prom\n        password: basic-auth-s3cret\n",
    )
    .unwrap();
    let layer = Function::start(
        harness,
        &[
            ("BLACKBOX_AUTH_TOKEN", TOKEN),
            (CONFIG_VAR, config.to_str().unwrap()),
            ("BLACKBOX_ARGS", PROBE_LOGS),
            ("BLACKBOX_HANDLER_LOG", "trace"),
            ("BLACKBOX_EXTENSION_LOG", "trace"),
        ],
    )
    .await;
    let path = format!("/probe?target=http://{}/&module=http_2xx", target.addr);

    let missing = layer.get(&path, &[]).await;
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert_eq!(
        missing.body.trim(),
        "an Authorization: Bearer token is required"
    );
    assert!(
        missing
            .header("www-authenticate")
            .is_some_and(|value| value.starts_with("Bearer")),
        "{missing:?}"
    );
    for wrong in [
        "Bearer tok-3f9c2d7e-5b1",
        "Bearer tok-3f9c2d7e-5b1aX",
        "Basic dG9rOg==",
        TOKEN,
    ] {
        let answer = layer.get(&path, &[("Authorization", wrong)]).await;
        assert_eq!(answer.status, 401, "{wrong}: {}", answer.body);
    }
    let right = layer
        .get(&path, &[("Authorization", &format!("Bearer {TOKEN}"))])
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
    assert_eq!(metric(&right.body, "probe_success"), Some(1.0));
    let lowercase = layer
        .get(&path, &[("authorization", &format!("bearer {TOKEN}"))])
        .await;
    assert_eq!(lowercase.status, 200);
    assert!(
        target.seen.lock().unwrap().len() == 2,
        "only authorised probes ran"
    );

    // Nothing secret reaches the logs: not the token, not the header, not module secrets.
    let logs = layer.logs();
    assert!(
        logs.contains("Beginning probe"),
        "blackbox logs at debug level: {logs}"
    );
    for secret in ["tok-3f9c2d7e", "module-header-s3cret", "basic-auth-s3cret"] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
    }
    assert!(
        !logs.contains(TOKEN) && !logs.contains("tok-3f9c2d7e"),
        "{logs}"
    );
    layer.shutdown().await.assert_no_process_left();
}

fn iam_event(path: &str, query: &str) -> Vec<u8> {
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "user-agent": "test"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc", "requestId": "r1", "routeKey": "$default", "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000", "timeEpoch": 1795000000000u64,
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "test"},
            "authorizer": {"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                "principalOrgId": null, "userArn": "arn:aws:iam::123456789012:user/prom", "userId": "AIDA"}}
        },
        "isBase64Encoded": false
    })
    .to_string()
    .into_bytes()
}

fn status_of(answer: &[u8]) -> u64 {
    let value: serde_json::Value = serde_json::from_slice(answer).expect("a JSON answer");
    value["statusCode"].as_u64().expect("a statusCode")
}

async fn iam_authenticated_requests_skip_the_token_only_when_trusted(harness: Harness) {
    let target = start_target().await;
    let query = format!("target=http://{}/&module=http_2xx", target.addr);
    for (trust, want) in [("false", 401), ("true", 200)] {
        let layer = Function::start(
            harness,
            &[
                ("BLACKBOX_AUTH_TOKEN", TOKEN),
                ("BLACKBOX_AUTH_TRUST_IAM", trust),
            ],
        )
        .await;
        let outcome = layer.invoke(iam_event("/probe", &query)).await;
        let answer = outcome.result().expect("the invoke succeeds");
        assert_eq!(
            status_of(answer.as_bytes()),
            want,
            "trust {trust}: {answer}"
        );
        // Without the IAM context the token is still needed.
        let plain = layer.get(&format!("/probe?{query}"), &[]).await;
        assert_eq!(plain.status, 401);
        layer.shutdown().await.assert_no_process_left();
    }
}

async fn only_probe_is_served_by_default(harness: Harness) {
    let layer = Function::start(harness, &[]).await;
    for path in [
        "/config",
        "/logs",
        "/-/reload",
        "/",
        "/metrics",
        "/-/healthy",
        "/probe/../config",
        "/PROBE",
    ] {
        let answer = layer.get(path, &[]).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert_eq!(answer.body.lines().count(), 1, "{path}: {}", answer.body);
    }
    let debug = layer
        .get(
            "/probe?target=127.0.0.1:1&module=tcp_connect&debug=true",
            &[],
        )
        .await;
    assert_eq!(debug.status, 403, "{}", debug.body);
    assert!(
        debug.body.contains("BLACKBOX_ALLOW_DEBUG"),
        "{}",
        debug.body
    );
    let post = layer
        .request(
            reqwest::Method::POST,
            "/probe?target=127.0.0.1:1&module=tcp_connect",
            &[],
        )
        .await;
    assert_eq!(post.status, 405, "{}", post.body);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let long = layer
        .get(
            &format!(
                "/probe?module=tcp_connect&target=127.0.0.1:1&pad={}",
                "a".repeat(9000)
            ),
            &[],
        )
        .await;
    assert_eq!(long.status, 414, "{}", long.body);
    let big_header = "x".repeat(9000);
    let oversized = layer
        .get(
            "/probe?target=127.0.0.1:1&module=tcp_connect",
            &[("X-Big", &big_header)],
        )
        .await;
    assert_eq!(oversized.status, 400, "{}", oversized.body);
    layer.shutdown().await.assert_no_process_left();

    let open = Function::start(
        harness,
        &[
            ("BLACKBOX_EXPOSE_METRICS", "true"),
            ("BLACKBOX_ALLOW_DEBUG", "true"),
        ],
    )
    .await;
    let metrics = open.get("/metrics", &[]).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains("blackbox_exporter_build_info"),
        "{}",
        metrics.body
    );
    assert_eq!(open.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(
        open.get("/config", &[]).await.status,
        404,
        "/config is never served"
    );
    let debug = open
        .get(
            "/probe?target=127.0.0.1:1&module=tcp_connect&debug=true",
            &[],
        )
        .await;
    assert_eq!(debug.status, 200);
    assert!(debug.body.contains("Logs for the probe"), "{}", debug.body);
    open.shutdown().await.assert_no_process_left();
}

async fn ssrf_bypass_forms_are_refused_by_default(harness: Harness) {
    // No allow list: the default deny list applies. blackbox logs every probe it begins
    // (requests_need_the_bearer_token shows these flags make probes visible).
    let layer = Function::start(
        harness,
        &[
            ("BLACKBOX_ALLOWED_TARGETS", ""),
            ("BLACKBOX_ARGS", PROBE_LOGS),
        ],
    )
    .await;
    let api = layer.runtime_api_port();
    let bb = layer.blackbox_port;
    let alias = loopback_alias();
    let forms: Vec<(String, &str)> = vec![
        (
            format!("127.0.0.1:{api}/2018-06-01/runtime/invocation/next"),
            "http_2xx",
        ),
        (
            format!("http://127.0.0.1:{api}/2018-06-01/runtime/invocation/next"),
            "http_2xx",
        ),
        (format!("http://localhost:{api}/"), "http_2xx"),
        (format!("http://LOCALHOST.:{api}/"), "http_2xx"),
        (format!("http://127.0.0.1:{bb}/config"), "http_2xx"),
        (format!("http://2130706433:{api}/"), "http_2xx"),
        (format!("http://0x7f000001:{api}/"), "http_2xx"),
        (format!("http://0x7f.1:{api}/"), "http_2xx"),
        (format!("http://0177.0.0.1:{api}/"), "http_2xx"),
        (format!("http://127.1:{api}/"), "http_2xx"),
        (format!("http://127.0.1:{api}/"), "http_2xx"),
        (format!("http://[::1]:{api}/"), "http_2xx"),
        (format!("http://[::ffff:127.0.0.1]:{api}/"), "http_2xx"),
        (format!("http://[::ffff:7f00:1]:{api}/"), "http_2xx"),
        (
            format!("http://[0:0:0:0:0:ffff:127.0.0.1]:{api}/"),
            "http_2xx",
        ),
        (format!("http://127.0.0.1.:{api}/"), "http_2xx"),
        (format!("http://good.example@127.0.0.1:{api}/"), "http_2xx"),
        (
            format!("http://good.example:pw@127.0.0.1:{api}/"),
            "http_2xx",
        ),
        (format!("http%3A%2F%2F127.0.0.1%3A{api}%2F"), "http_2xx"),
        (format!("http://127.0.0.%31:{api}/"), "http_2xx"),
        (format!("HTTP://127.0.0.1:{api}/"), "http_2xx"),
        (format!("https://127.0.0.1:{api}/"), "http_2xx"),
        (format!("http://127.0.0.2:{api}/"), "http_2xx"),
        (format!("http://0.0.0.0:{api}/"), "http_2xx"),
        (format!("http://0:{api}/"), "http_2xx"),
        (format!("http://[::]:{api}/"), "http_2xx"),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "http_2xx",
        ),
        (
            "http://169.254.170.2/v2/credentials".to_string(),
            "http_2xx",
        ),
        (
            "http://[fd00:ec2::254]/latest/meta-data/".to_string(),
            "http_2xx",
        ),
        ("http://[fe80::1%25eth0]/".to_string(), "http_2xx"),
        (format!("http://{alias}:{api}/"), "http_2xx"),
        (format!("127.0.0.1:{api}"), "tcp_connect"),
        (format!("[::1]:{api}"), "tcp_connect"),
        (format!("localhost:{api}"), "tcp_connect"),
        (format!("{alias}:{api}"), "tcp_connect"),
        ("127.0.0.1".to_string(), "dns"),
        ("127.0.0.53:53".to_string(), "dns"),
        (format!("127.0.0.1:{api}"), "tls"),
    ];
    assert!(forms.len() >= 25);
    for (target, module) in &forms {
        // Sent as Prometheus sends it: URL-encoded, and once more raw.
        for query_target in [encode(target), target.clone()] {
            let answer = layer
                .get(
                    &format!("/probe?module={module}&target={query_target}"),
                    &[],
                )
                .await;
            // 403 for a refused target, 400 for one that cannot be read as a host.
            assert!(
                answer.status == 403 || answer.status == 400,
                "{module} {query_target}: {} {}",
                answer.status,
                answer.body
            );
            assert_eq!(answer.body.lines().count(), 1, "{}", answer.body);
        }
    }
    // The Runtime API saw none of it.
    let logs = layer.logs();
    assert!(
        !logs.contains("Beginning probe"),
        "a refused probe reached blackbox"
    );
    // A name that cannot be resolved cannot be checked: refused, not passed on unchecked.
    let unresolvable = layer
        .get(
            &format!(
                "/probe?module=http_2xx&target=http://{}/",
                unresolvable_name()
            ),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
        )
        .await;
    assert_eq!(unresolvable.status, 403, "{}", unresolvable.body);
    assert!(
        unresolvable
            .body
            .contains("could not be resolved to check it"),
        "{}",
        unresolvable.body
    );
    assert!(!layer.logs().contains("Beginning probe"));
    // That an ordinary public target is admitted is the conformance tables' and the
    // policy's unit tests' to show: probing one here would send traffic off the machine.
    layer.shutdown().await.assert_no_process_left();
}

async fn the_default_modules_do_not_follow_redirects(harness: Harness) {
    // A redirect could lead the probe past the target policy, to the Runtime API.
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    let to = format!("http://{}/landed", target.addr);
    let answer = layer
        .probe(
            &encode(&format!("http://{}/redirect?to={to}", target.addr)),
            "http_2xx",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        metric(&answer.body, "probe_http_status_code"),
        Some(302.0),
        "{}",
        answer.body
    );
    assert_eq!(metric(&answer.body, "probe_success"), Some(0.0));
    assert!(
        target.seen.lock().unwrap().is_empty(),
        "the redirect was followed"
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn the_allow_list_admits_only_its_entries_and_never_the_runtime_api(harness: Harness) {
    let target = start_target().await;
    let allowed_port = target.addr.port();
    let layer = Function::start(
        harness,
        &[(
            "BLACKBOX_ALLOWED_TARGETS",
            &format!("127.0.0.1:{allowed_port}, *.example.com, 10.0.0.0/8:443"),
        )],
    )
    .await;
    let api = layer.runtime_api_port();
    let ok = layer
        .probe(&format!("http://127.0.0.1:{allowed_port}/"), "http_2xx")
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(metric(&ok.body, "probe_success"), Some(1.0));
    for (target, module) in [
        (format!("http://127.0.0.1:{api}/"), "http_2xx"),
        (
            format!("http://127.0.0.1:{}/", layer.blackbox_port),
            "http_2xx",
        ),
        (
            format!("http://127.0.0.1:{}/", allowed_port + 1),
            "http_2xx",
        ),
        ("http://example.com/".to_string(), "http_2xx"),
        ("http://10.1.2.3/".to_string(), "http_2xx"),
        ("http://localhost.example.org/".to_string(), "http_2xx"),
        (format!("127.0.0.1:{api}"), "tcp_connect"),
    ] {
        let answer = layer.probe(&encode(&target), module).await;
        assert_eq!(answer.status, 403, "{target}: {}", answer.body);
    }
    layer.shutdown().await.assert_no_process_left();

    // Even listed whole, loopback never reaches the Runtime API or blackbox itself.
    let layer = Function::start(harness, &[("BLACKBOX_ALLOWED_TARGETS", "127.0.0.0/8")]).await;
    let api = layer.runtime_api_port();
    for target in [
        format!("127.0.0.1:{api}"),
        format!("127.0.0.2:{api}"),
        format!("127.0.0.1:{}", layer.blackbox_port),
    ] {
        let answer = layer.probe(&target, "tcp_connect").await;
        assert_eq!(answer.status, 403, "{target}: {}", answer.body);
        assert!(
            answer.body.contains("Runtime API") || answer.body.contains("own listener"),
            "{}",
            answer.body
        );
    }
    layer.shutdown().await.assert_no_process_left();
}

async fn a_malformed_event_is_an_error_invocation_and_the_handler_lives_on(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    // RIE starts the runtime at the first invoke.
    assert_eq!(layer.probe("127.0.0.1:1", "tcp_connect").await.status, 200);
    let before = layer.runtime_pids();
    assert_eq!(before.len(), 1);
    // Not an event lambda_http reads: an error invocation, and the runtime lives on.
    let unreadable: [&[u8]; 4] = [
        b"not json",
        b"{\"version\":\"2.0\"}",
        b"[]",
        b"{\"rawPath\": 5}",
    ];
    for event in unreadable {
        let outcome = layer.invoke(event.to_vec()).await;
        assert!(
            outcome.result().is_err(),
            "{:?}: {outcome:?}",
            String::from_utf8_lossy(event)
        );
    }
    // Events lambda_http would panic building a request from (a raw quote in the query, a
    // bad host, a path that makes a port): a 400 naming the part, before it tries.
    let unbuildable: [(&[u8], &str); 4] = [
        (
            br#"{"rawPath":"/probe","rawQueryString":"target=\"x\"","requestContext":{"http":{"method":"GET"}}}"#,
            r#"malformed request: the query string "target=\"x\"" is not valid in a URL"#,
        ),
        (
            br#"{"rawPath":"/probe","rawQueryString":"module=x","headers":{"host":"a%b"},"requestContext":{"http":{"method":"GET"}}}"#,
            r#"malformed request: the Host header "a%b" is not valid in a URL"#,
        ),
        (
            br#"{"httpMethod":"GET","path":":x","requestContext":{"elb":{}}}"#,
            r#"malformed request: the path ":x" is not valid in a URL"#,
        ),
        // Found by the event_to_upstream fuzz target: lambda_http's body decode panicked.
        (
            br#"{"rawPath":"/probe","rawQueryString":"","headers":{"host":"h"},"requestContext":{"http":{"method":"POST"}},"body":"AAECAw=*=","isBase64Encoded":true}"#,
            "malformed request: the body is marked isBase64Encoded but is not base64",
        ),
    ];
    for (event, reason) in unbuildable {
        let outcome = layer.invoke(event.to_vec()).await;
        let answer: serde_json::Value =
            serde_json::from_str(outcome.result().expect("an answer")).expect("JSON");
        assert_eq!(answer["statusCode"], 400, "{answer}");
        assert_eq!(answer["body"], format!("{reason}\n"), "{answer}");
    }
    // A scrape timeout no Duration can hold is no header, not a crash.
    let huge = layer
        .get(
            "/probe?target=127.0.0.1:1&module=tcp_connect",
            &[("X-Prometheus-Scrape-Timeout-Seconds", "1e30")],
        )
        .await;
    assert_eq!(huge.status, 200, "{}", huge.body);
    let answer = layer
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        layer.runtime_pids(),
        before,
        "the same runtime process served throughout"
    );
    assert!(!layer.logs().contains("Runtime.ExitError"));
    layer.shutdown().await.assert_no_process_left();
}

async fn blackbox_killed_during_a_probe_is_a_502_and_the_next_probe_succeeds(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    let slow = format!("/probe?target=http://{}/slow&module=http_2xx", target.addr);
    let in_flight = layer.get(&slow, &[]);
    let killer = async {
        assert!(
            layer
                .wait_for_log(|l| l.contains("START RequestId"), Duration::from_secs(5))
                .await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        for pid in layer.blackbox_pids() {
            kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        }
    };
    let (answer, ()) = tokio::join!(in_flight, killer);
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer
            .body
            .starts_with("blackbox_exporter's answer broke off"),
        "{}",
        answer.body
    );
    let next = layer
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(metric(&next.body, "probe_success"), Some(1.0));
    layer.shutdown().await.assert_no_process_left();
}

async fn a_hung_blackbox_is_a_504_within_the_scrape_timeout_and_is_replaced(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    assert_eq!(layer.probe("127.0.0.1:1", "tcp_connect").await.status, 200);
    let hung = layer.blackbox_pids();
    // SIGSTOP now would be undone by the sandbox's thaw; stop it once the invoke runs,
    // while blackbox waits on a slow target (it would answer by itself after 1.5 s).
    let path = format!("/probe?target=http://{}/slow&module=http_2xx", target.addr);
    let probe = layer.get(&path, &[("X-Prometheus-Scrape-Timeout-Seconds", "2")]);
    let stopper = async {
        layer.wait_for_invokes(2).await;
        // Past the thaw, while blackbox waits on the slow target.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for pid in &hung {
            kill(Pid::from_raw(*pid), Signal::SIGSTOP).unwrap();
        }
    };
    let started = Instant::now();
    let (answer, ()) = tokio::join!(probe, stopper);
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
    layer
        .expect_log("not answering; replacing it", Duration::from_secs(5))
        .await;
    let next = layer
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_ne!(layer.blackbox_pids(), hung);
    layer.shutdown().await.assert_no_process_left();
}

/// Lambda notices a dead extension when it thaws the environment: that invoke fails
/// with `Extension.Crash` (a Function URL answers 502) and the environment is replaced.
/// The handler's own 503 for a missing extension is unit-tested in the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_extension_fails_that_invoke_and_a_new_environment_serves_the_next() {
    let layer = Function::start(Harness::SANDBOX_WITH_LAYER_BLACKBOX, &[]).await;
    assert_eq!(layer.probe("127.0.0.1:1", "tcp_connect").await.status, 200);
    layer.wait_for_reports(1).await;
    let extension: Vec<i32> = layer
        .processes()
        .into_iter()
        .filter(|p| p.comm == EXTENSION_COMM)
        .map(|p| p.pid)
        .collect();
    assert_eq!(extension.len(), 1);
    // (pid, start time): the pid alone may be reused by then on a busy machine.
    let blackbox: Vec<(i32, u64)> = layer
        .processes()
        .into_iter()
        .filter(|p| p.ppid == extension[0])
        .map(|p| (p.pid, p.start_time))
        .collect();
    assert_eq!(blackbox.len(), 1, "{:?}", layer.processes());
    kill(Pid::from_raw(extension[0]), Signal::SIGKILL).unwrap();
    let answer = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(layer.logs().contains("Error Type: Extension.Crash"));
    // blackbox died with its extension (parent-death signal): no orphan.
    for (pid, start_time) in blackbox {
        assert!(
            !is_alive(pid, start_time),
            "blackbox {pid} outlived its extension"
        );
    }
    let next = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert_eq!(next.status, 200, "{}", next.body);
    layer.shutdown().await.assert_no_process_left();
}

/// That very process running, as opposed to gone, a zombie, or its pid reused.
fn is_alive(pid: i32, start_time: u64) -> bool {
    let Some(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok() else {
        return false;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state, fields[19] the start time (stat fields 3 and 22).
    let same_process = fields.get(19).and_then(|t| t.parse::<u64>().ok()) == Some(start_time);
    same_process && !matches!(fields.first(), Some(&"Z") | Some(&"X"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_a_probe_is_in_flight_shuts_down_cleanly() {
    let target = start_target().await;
    let url_port = free_port();
    let blackbox_port = free_port();
    let mut sandbox = std::process::Command::new(workspace_binary("lambda-sandbox"))
        .args(["--layer", layer_dir().to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{url_port}")])
        .args(["--invoke-listen", &format!("127.0.0.1:{}", free_port())])
        // Not make run's 9001: another emulator on this machine may hold it.
        .args(["--runtime-api", &format!("127.0.0.1:{}", free_port())])
        .args([
            "--env",
            &format!("{LISTEN_ADDRESS_VAR}=127.0.0.1:{blackbox_port}"),
        ])
        .args(["--env", "BLACKBOX_ALLOWED_TARGETS=127.0.0.1"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("the sandbox binary starts");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{url_port}");
    let ready = async {
        loop {
            if let Ok(r) = client
                .get(format!(
                    "{base}/probe?target=127.0.0.1:1&module=tcp_connect"
                ))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("the Function URL answers");
    let sandbox_pid = sandbox.id() as i32;
    let probe = client
        .get(format!(
            "{base}/probe?target=http://{}/slow&module=http_2xx",
            target.addr
        ))
        .timeout(Duration::from_secs(10))
        .send();
    let interrupt = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let everything: Vec<i32> = lambda_sandbox::proc_fs::descendants(sandbox_pid)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert!(
            everything.len() >= 3,
            "extension, blackbox and bootstrap: {everything:?}"
        );
        kill(Pid::from_raw(sandbox_pid), Signal::SIGINT).unwrap();
        everything
    };
    let started = Instant::now();
    let (answer, everything) = tokio::join!(probe, interrupt);
    // Whatever the in-flight probe got, it was not left hanging.
    assert!(started.elapsed() < Duration::from_secs(5), "{answer:?}");
    let status = tokio::task::spawn_blocking(move || sandbox.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the sandbox exits 0 on Ctrl-C: {status}");
    assert!(started.elapsed() < Duration::from_secs(5));
    for pid in everything {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is left"
        );
    }
}
