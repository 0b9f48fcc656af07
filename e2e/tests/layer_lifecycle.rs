//! The real layer — extension, blackbox_exporter, handler — through the Lambda
//! lifecycle, each test under both harnesses: the local sandbox and AWS's RIE
//! (`sandbox::NAME`, `rie::NAME`). `make test` builds the layer directory and points
//! `LAMBDA_BLACKBOX_LAYER` at it.
#![cfg(feature = "layer")]

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use lambda_blackbox_contract::{CONFIG_VAR, LISTEN_ADDRESS_VAR};
use lambda_blackbox_e2e::harness::{BlackboxRelease, Function, Harness, Platform};
use lambda_blackbox_e2e::*;
use lambda_sandbox::InitOutcome;

both_harnesses!(
    a_live_target_probes_successfully_through_the_function_url,
    the_query_string_reaches_blackbox_byte_for_byte,
    a_dead_target_is_probe_success_zero_and_bad_requests_pass_through,
    the_scrape_timeout_header_bounds_the_probe,
    init_waits_for_the_listening_line,
    a_slow_start_past_the_ready_timeout_is_blackbox_not_ready,
    a_bad_config_fails_init_quoting_blackbox,
    a_missing_binary_fails_init,
    an_invalid_setting_fails_init_naming_the_variable,
    blackbox_killed_between_invokes_is_back_for_the_next_probe,
    shutdown_stops_blackbox_and_leaves_no_process,
    a_listen_port_in_use_fails_init_naming_it,
    a_blackbox_that_keeps_dying_ends_in_exit_error_without_a_restart_storm,
    an_invoke_past_the_function_timeout_is_task_timed_out_and_the_next_one_is_served,
);

// The older release keeps the readiness, Init-failure and end-to-end subset.
on_the_layer_s_blackbox!(
    a_live_target_probes_successfully_through_the_function_url,
    init_waits_for_the_listening_line,
    a_slow_start_past_the_ready_timeout_is_blackbox_not_ready,
    a_bad_config_fails_init_quoting_blackbox,
    a_missing_binary_fails_init,
    a_listen_port_in_use_fails_init_naming_it,
    shutdown_stops_blackbox_and_leaves_no_process,
);

async fn a_live_target_probes_successfully_through_the_function_url(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    layer.assert_initialized();

    let answer = layer
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&answer);

    // blackbox's own lines reach the function's log stream unchanged, and they say
    // which release ran: today's where the harness asks for it, another one else.
    let logs = layer.logs();
    let newest = logs.contains("(version=0.28.");
    assert_eq!(
        newest,
        harness.blackbox == BlackboxRelease::Newest,
        "{harness:?}:\n{logs}"
    );
    assert!(
        logs.lines().any(|l| l.contains("msg=\"Listening on\"")
            && l.contains(&format!("address=127.0.0.1:{}", layer.blackbox_port))),
        "{logs}"
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn the_query_string_reaches_blackbox_byte_for_byte(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    // Prometheus URL-encodes the target; re-encoding it on the way would break the
    // target's own query string.
    let encoded = format!(
        "http%3A%2F%2F{}%2Fpath%3Fa%3D1%26b%3Dtwo%2520words",
        target.addr
    );
    let answer = layer.probe(&encoded, "http_2xx").await;
    assert_eq!(
        metric(&answer.body, "probe_success"),
        Some(1.0),
        "{}",
        answer.body
    );
    assert_eq!(
        target.seen.lock().unwrap().as_slice(),
        ["/path?a=1&b=two%20words"]
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn a_dead_target_is_probe_success_zero_and_bad_requests_pass_through(harness: Harness) {
    let layer = Function::start(harness, &[]).await;
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let answer = layer.probe(&dead, "http_2xx").await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        metric(&answer.body, "probe_success"),
        Some(0.0),
        "{}",
        answer.body
    );

    let unknown = layer.probe(&dead, "no_such_module").await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.body.contains("Unknown module"), "{}", unknown.body);
    let missing = layer.get("/probe?module=http_2xx", &[]).await;
    assert_eq!(missing.status, 400, "{}", missing.body);
    assert!(
        missing.body.contains("Target parameter is missing"),
        "{}",
        missing.body
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn the_scrape_timeout_header_bounds_the_probe(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    let answer = layer
        .get(
            &format!("/probe?target=http://{}/slow&module=http_2xx", target.addr),
            &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(metric(&answer.body, "probe_success"), Some(0.0));
    // blackbox subtracts its 0.5 s offset: the probe ends after about 1.5 s, not 5 s.
    assert!(
        answer.elapsed >= Duration::from_millis(1300)
            && answer.elapsed < Duration::from_millis(4000),
        "took {:?}",
        answer.elapsed
    );
    let duration = metric(&answer.body, "probe_duration_seconds").unwrap();
    assert!(
        (1.3..2.0).contains(&duration),
        "probe_duration_seconds {duration}"
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn init_waits_for_the_listening_line(harness: Harness) {
    let dir = TempDir::new("slow-start");
    let wrapper = harness.wrapper_binary(&dir, "sleep 1\nexec \"$REAL\" \"$@\"");
    let layer = start_with(harness, &wrapper).await;
    // Under RIE, Init runs inside the first invoke.
    let first = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let init_duration = match layer.sandbox() {
        Some(sandbox) => match sandbox.init_outcome() {
            InitOutcome::Ok { duration } => duration,
            other => panic!("{other:?}"),
        },
        None => first.elapsed,
    };
    assert!(
        init_duration >= Duration::from_millis(1000),
        "Init ended after {init_duration:?}, before blackbox could have started"
    );
    let logs = layer.logs();
    let listening = logs
        .find("msg=\"Listening on\"")
        .expect("a Listening on line");
    let init_report = logs
        .find(layer.init_report_marker())
        .expect("the platform's line that ends Init");
    assert!(listening < init_report, "{logs}");
    layer.shutdown().await.assert_no_process_left();
}

async fn a_slow_start_past_the_ready_timeout_is_blackbox_not_ready(harness: Harness) {
    let dir = TempDir::new("too-slow");
    let wrapper = harness.wrapper_binary(&dir, "sleep 3\nexec \"$REAL\" \"$@\"");
    let started = Instant::now();
    let layer = Function::start(
        harness,
        &[
            ("BLACKBOX_EXPORTER_BIN", wrapper.to_str().unwrap()),
            ("BLACKBOX_READY_TIMEOUT_MS", "500"),
        ],
    )
    .await;
    let message = layer
        .extension_init_failure("Extension.BlackboxNotReady")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains("not ready within 500 ms"), "{message}");
    layer.shutdown().await.assert_no_process_left();
}

async fn a_bad_config_fails_init_quoting_blackbox(harness: Harness) {
    let dir = TempDir::new("bad-config");
    let config = dir.join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_2xx:\n    prober: http\n    timeout: [5s]\n",
    )
    .unwrap();
    let layer = Function::start(harness, &[(CONFIG_VAR, config.to_str().unwrap())]).await;
    let message = layer
        .extension_init_failure("Extension.BlackboxExited")
        .await;
    assert!(
        message.contains("exited (exit code 1) before it was ready"),
        "{message}"
    );
    assert!(message.contains("Error loading config"), "{message}");
    assert!(message.contains("line 4: cannot unmarshal"), "{message}");

    // An invoke after a failed Init is an error, not a hang. The sandbox answers it as RIE
    // answers a function error (200, the platform's error document); RIE itself answers
    // 502 with no body (its Init retry cannot re-launch the extension it registered).
    let answer = layer.invoke(b"{}".to_vec()).await;
    match harness.platform {
        Platform::Sandbox => {
            let document = answer.result().expect_err("an error document");
            assert!(document.contains("Extension.InitError"), "{answer:?}");
        }
        Platform::Rie => assert_eq!(answer.status, 502, "{answer:?}"),
    }
    layer.shutdown().await.assert_no_process_left();
}

async fn a_missing_binary_fails_init(harness: Harness) {
    let layer = Function::start(
        harness,
        &[("BLACKBOX_EXPORTER_BIN", "/nonexistent/blackbox_exporter")],
    )
    .await;
    let message = layer
        .extension_init_failure("Extension.BlackboxBinaryMissing")
        .await;
    assert!(
        message.contains("/nonexistent/blackbox_exporter does not exist"),
        "{message}"
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn an_invalid_setting_fails_init_naming_the_variable(harness: Harness) {
    let layer = Function::start(harness, &[("BLACKBOX_READY_TIMEOUT_MS", "soon")]).await;
    let message = layer
        .extension_init_failure("Extension.InvalidSetting")
        .await;
    assert_eq!(
        message,
        "BLACKBOX_READY_TIMEOUT_MS: \"soon\" is not a whole number of milliseconds"
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn blackbox_killed_between_invokes_is_back_for_the_next_probe(harness: Harness) {
    let target = start_target().await;
    let layer = Function::start(harness, &[]).await;
    let first = layer
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_eq!(metric(&first.body, "probe_success"), Some(1.0));

    layer.wait_for_reports(1).await;
    let before = layer.blackbox_pids();
    assert_eq!(before.len(), 1, "{:?}", layer.processes());
    // The sandbox is frozen now, as Lambda freezes it between invokes (RIE does not
    // freeze: there the extension sees the death at once).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let second = layer
        .probe(&format!("http://{}/", target.addr), "http_2xx")
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(
        metric(&second.body, "probe_success"),
        Some(1.0),
        "{}",
        second.body
    );
    let after = layer.blackbox_pids();
    assert_eq!(after.len(), 1, "{:?}", layer.processes());
    assert_ne!(after, before, "blackbox was restarted");
    assert!(layer
        .logs()
        .contains("blackbox_exporter died; restarting it"));
    layer.shutdown().await.assert_no_process_left();
}

async fn shutdown_stops_blackbox_and_leaves_no_process(harness: Harness) {
    let layer = Function::start(harness, &[]).await;
    let answer = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert_eq!(answer.status, 200);
    assert_eq!(layer.blackbox_pids().len(), 1, "{:?}", layer.processes());
    let ended = layer.shutdown().await;
    // The sandbox's Shutdown phase says spindown; RIE on SIGTERM says SandboxTerminated.
    let reason = match harness.platform {
        Platform::Sandbox => "spindown",
        Platform::Rie => "sandboxterminated",
    };
    assert!(
        ended
            .logs
            .contains(&format!("SHUTDOWN reason=\"{reason}\"")),
        "the extension got SHUTDOWN:\n{}",
        ended.logs
    );
    assert!(
        ended.logs.contains("blackbox_exporter stopped"),
        "the extension stopped blackbox:\n{}",
        ended.logs
    );
    ended.assert_no_process_left();
}

/// What only the sandbox reports of the Shutdown phase: when each extension exited, what
/// had to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extension_exits_well_before_the_shutdown_deadline_in_the_sandbox() {
    let layer = Function::start(Harness::SANDBOX_WITH_LAYER_BLACKBOX, &[]).await;
    let answer = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert_eq!(answer.status, 200);
    let blackbox = layer.blackbox_pids();
    assert_eq!(blackbox.len(), 1);
    let everything: Vec<i32> = layer.processes().iter().map(|p| p.pid).collect();

    let report = layer.shutdown_sandbox().await;
    assert_eq!(report.extensions.len(), 1, "{report:?}");
    let (name, exited_at) = &report.extensions[0];
    assert_eq!(name, "blackbox-extension");
    let exited_at = exited_at.expect("the extension exits by itself");
    assert!(
        exited_at + Duration::from_millis(500) < report.deadline,
        "the extension exited too close to the deadline: {report:?}"
    );
    assert!(
        !report.killed.iter().any(|pid| blackbox.contains(pid)),
        "blackbox had to be killed by the sandbox: {report:?}"
    );
    assert!(report.leftover.is_empty(), "{report:?}");
    for pid in everything {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is still there (or a zombie)"
        );
    }
}

async fn a_listen_port_in_use_fails_init_naming_it(harness: Harness) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let layer = Function::start(harness, &[(LISTEN_ADDRESS_VAR, &address)]).await;
    let message = layer
        .extension_init_failure("Extension.BlackboxExited")
        .await;
    assert!(message.contains("address already in use"), "{message}");
    assert!(message.contains(&address), "{message}");
    layer.shutdown().await.assert_no_process_left();
}

async fn a_blackbox_that_keeps_dying_ends_in_exit_error_without_a_restart_storm(harness: Harness) {
    let dir = TempDir::new("crash-loop");
    let marker = dir.join("started-once");
    let starts = dir.join("starts");
    // Starts for real once; every restart after that fails at once.
    let wrapper = harness.wrapper_binary(
        &dir,
        &format!(
            "echo start >> '{}'\nif [ -e '{m}' ]; then echo 'level=error msg=\"simulated crash\"' >&2; exit 3; fi\ntouch '{m}'\nexec \"$REAL\" \"$@\"",
            starts.display(),
            m = marker.display()
        ),
    );
    let layer = start_with(harness, &wrapper).await;
    let first = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert_eq!(first.status, 200, "{}", first.body);
    layer.wait_for_reports(1).await;
    let pids = layer.blackbox_pids();
    assert_eq!(pids.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let started = Instant::now();

    // The invoke thaws the sandbox (RIE never froze it); the extension retries with
    // backoff, then gives up.
    let answer = layer.probe("127.0.0.1:1", "tcp_connect").await;
    assert!(answer.status >= 500, "{} {}", answer.status, answer.body);
    layer
        .expect_log("Extension.BlackboxRestartFailed", Duration::from_secs(10))
        .await;
    let elapsed = started.elapsed();
    let restarts = std::fs::read_to_string(&starts).unwrap().lines().count() - 1;
    assert_eq!(restarts, 5, "one start, then exactly 5 failed restarts");
    // 0 + 100 + 200 + 400 + 800 ms of backoff: no storm.
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    let logs = layer.logs();
    assert!(
        logs.contains("5 restarts in a row failed") && logs.contains("simulated crash"),
        "{logs}"
    );
    layer.shutdown().await.assert_no_process_left();
}

async fn an_invoke_past_the_function_timeout_is_task_timed_out_and_the_next_one_is_served(
    harness: Harness,
) {
    use lambda_blackbox_e2e::replay::{event, EVENT_TOKEN};
    let target = start_target().await;
    let layer = Function::start(
        harness,
        &[
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"),
            ("BLACKBOX_AUTH_TOKEN", EVENT_TOKEN),
        ],
    )
    .await;
    let probe = event("function-url.json", &target.addr.to_string())
        .to_string()
        .into_bytes();
    let first = layer.invoke(probe.clone()).await;
    assert!(first.result().is_ok(), "{first:?}");
    layer.wait_for_reports(1).await;
    let bootstrap = layer.runtime_pids();
    assert_eq!(bootstrap.len(), 1, "{:?}", layer.processes());

    // The runtime stops answering in the middle of an invoke (a probe of a slow target).
    let mut slow = event("function-url.json", &target.addr.to_string());
    let query = format!("target=http://{}/slow&module=http_2xx", target.addr);
    slow["rawQueryString"] = query.into();
    slow["queryStringParameters"]["target"] = format!("http://{}/slow", target.addr).into();
    let invoke = layer.invoke(slow.to_string().into_bytes());
    let stopper = async {
        layer.wait_for_invokes(2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(bootstrap[0]),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
    };
    let started = Instant::now();
    let (timed_out, ()) = tokio::join!(invoke, stopper);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2500) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_eq!(timed_out.status, 200, "{timed_out:?}");
    // RIE's answer, word for word (the sandbox's was an error document until this test).
    assert_eq!(
        timed_out.body,
        "Task timed out after 3.00 seconds",
        "{}",
        layer.logs()
    );
    layer
        .expect_log("SHUTDOWN reason=\"timeout\"", Duration::from_secs(5))
        .await;
    // A new environment serves the next invoke.
    let next = layer.invoke(probe).await;
    let answer: serde_json::Value =
        serde_json::from_str(next.result().expect("an answer")).expect("JSON");
    assert_eq!(answer["statusCode"], 200, "{answer}\n{}", layer.logs());
    layer.shutdown().await.assert_no_process_left();
}

/// The layer with a stand-in for blackbox_exporter (a wrapper script).
async fn start_with(harness: Harness, blackbox: &Path) -> Function {
    Function::start(
        harness,
        &[("BLACKBOX_EXPORTER_BIN", blackbox.to_str().unwrap())],
    )
    .await
}
