//! The layer under AWS's own Runtime Interface Emulator (the second harness; the sandbox
//! is the first): Init held until blackbox answers, every events/ file answered in its
//! source's shape, an invalid setting failing Init with its cause, and SIGTERM ending
//! the environment with SHUTDOWN and no process left.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use lambda_blackbox_e2e::replay::{event, invoke, replay_all, EVENT_TOKEN};
use lambda_blackbox_e2e::rie::{descendants, RieFunction};
use lambda_blackbox_e2e::{free_port, layer_dir, start_target};

fn env(blackbox_port: u16) -> Vec<(String, String)> {
    vec![
        (
            "BLACKBOX_LISTEN_ADDRESS".into(),
            format!("127.0.0.1:{blackbox_port}"),
        ),
        ("BLACKBOX_ALLOWED_TARGETS".into(), "127.0.0.1".into()),
        ("BLACKBOX_AUTH_TOKEN".into(), EVENT_TOKEN.into()),
    ]
}

fn start(extra: &[(&str, &str)]) -> RieFunction {
    let mut vars = env(free_port());
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
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
    assert!(
        status.code().is_some() || status.signal().is_some(),
        "{status}"
    );
    assert!(
        logs.contains("SHUTDOWN"),
        "the extension got SHUTDOWN:\n{logs}"
    );
    for pid in everything {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || descendants(pid).is_empty() && is_zombie_or_other(pid),
            "process {pid} is left:\n{logs}"
        );
    }
}

/// A pid can be reused at once by an unrelated process: only one still named as ours counts.
fn is_zombie_or_other(pid: i32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm = comm.trim();
    !(comm.starts_with("aws-lambda-rie")
        || matches!(comm, "blackbox-extens" | "blackbox_export" | "bootstrap"))
}
