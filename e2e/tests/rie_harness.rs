//! The layer under AWS's own Runtime Interface Emulator (the second harness; the sandbox
//! is the first): Init held until blackbox answers, every events/ file answered in its
//! source's shape, an invalid setting failing Init with its cause, and SIGTERM ending
//! the environment with SHUTDOWN and no process left.

use std::time::Duration;

use lambda_blackbox_e2e::replay::{event, invoke, replay_all, EVENT_TOKEN};
use lambda_blackbox_e2e::rie::RieFunction;
use lambda_blackbox_e2e::{free_port, layer_dir, start_target};

fn start(extra: &[(&str, &str)]) -> RieFunction {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut vars = vec![
        ("BLACKBOX_LISTEN_ADDRESS", listen.as_str()),
        ("BLACKBOX_ALLOWED_TARGETS", "127.0.0.1"),
        ("BLACKBOX_AUTH_TOKEN", EVENT_TOKEN),
    ];
    vars.extend_from_slice(extra);
    RieFunction::start(&layer_dir(), &vars, 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_waits_for_blackbox_and_every_event_file_is_answered() {
    let target = start_target().await;
    let function = start(&[]);
    replay_all(function.invoke_addr, &target.addr.to_string(), 1.0).await;
    let logs = function.logs();
    let ready = logs
        .find("blackbox_exporter is ready")
        .unwrap_or_else(|| panic!("no readiness line:\n{logs}"));
    let init_done = logs
        .find("INIT REPORT")
        .unwrap_or_else(|| panic!("RIE ended no Init:\n{logs}"));
    assert!(
        ready < init_done,
        "Init ended before blackbox answered:\n{logs}"
    );
    let seen = target.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "one probe per event file: {seen:?}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_setting_fails_init_with_its_cause() {
    let target = start_target().await;
    let function = start(&[("BLACKBOX_EXPOSE_METRICS", "maybe")]);
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/2015-03-31/functions/function/invocations",
            function.invoke_addr
        ))
        .body(event("function-url.json", &target.addr.to_string()).to_string())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("RIE answers");
    let body = response.text().await.unwrap();
    let logs = function.logs();
    assert!(
        logs.contains("BLACKBOX_EXPOSE_METRICS: \"maybe\" is not true or false"),
        "the cause is logged:\n{logs}"
    );
    // RIE answers the invoke with the runtime's init/error report as the payload.
    let answer: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}\n{logs}"));
    assert_eq!(
        answer["errorType"], "Runtime.InvalidSetting",
        "{body}\n{logs}"
    );
    assert_eq!(
        answer["errorMessage"], "BLACKBOX_EXPOSE_METRICS: \"maybe\" is not true or false",
        "{body}"
    );
    assert!(target.seen.lock().unwrap().is_empty(), "nothing was probed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_shutdown_and_leaves_no_process() {
    let target = start_target().await;
    let function = start(&[]);
    let answer = invoke(
        function.invoke_addr,
        &event("function-url.json", &target.addr.to_string()),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let everything = function.processes();
    assert!(
        everything.len() >= 4,
        "RIE, the extension, blackbox and the bootstrap: {everything:?}\n{}",
        function.logs()
    );
    let (status, logs) = function.terminate(Duration::from_secs(5));
    assert!(status.success(), "RIE exits 0 on SIGTERM: {status}\n{logs}");
    // The extension's own line, not RIE's registration line that also says SHUTDOWN.
    assert!(
        logs.contains("SHUTDOWN reason=\"sandboxterminated\""),
        "the extension got SHUTDOWN:\n{logs}"
    );
    assert!(
        logs.contains("blackbox_exporter stopped"),
        "the extension stopped blackbox:\n{logs}"
    );
    for pid in everything {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists() || reused_by_another(pid),
            "process {pid} is left:\n{logs}"
        );
    }
}

/// A pid can be reused at once by an unrelated process: only one still named as ours counts.
fn reused_by_another(pid: i32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm = comm.trim();
    !(comm.starts_with("aws-lambda-rie")
        || matches!(comm, "blackbox-extens" | "blackbox_export" | "bootstrap"))
}
