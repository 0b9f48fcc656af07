//! The sandbox driven by a tiny bash + curl layer: Init gating, invoke, freeze between
//! invokes, error paths and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{pid_alive, write_exec, TempDir};
use lambda_sandbox::{InitOutcome, Sandbox, SandboxConfig};

/// An external extension: prints a timestamp, waits 1 s, registers, starts a child in its
/// own session (like blackbox_exporter in its own process group), waits 0.5 s, then loops
/// on /event/next until SHUTDOWN.
const EXTENSION: &str = r#"#!/bin/bash
set -u
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
echo "ext: before-register $(date +%s%N)"
sleep 1
H=$(mktemp)
curl -sS -D "$H" -o /dev/null -X POST "$API/register" \
  -H "Lambda-Extension-Name: ${EXT_NAME_OVERRIDE:-ext}" -d '{"events":["INVOKE","SHUTDOWN"]}'
ID=$(grep -i '^lambda-extension-identifier:' "$H" | cut -d' ' -f2 | tr -d '\r\n')
rm -f "$H"
echo "ext: registered $ID"
if [ -n "${EXT_INIT_ERROR:-}" ]; then
  curl -sS -X POST "$API/init/error" -H "Lambda-Extension-Identifier: $ID" \
    -H "Lambda-Extension-Function-Error-Type: Extension.BlackboxExited" \
    -d '{"errorMessage":"blackbox_exporter exited","errorType":"Extension.BlackboxExited"}'
  echo
  exit 1
fi
setsid sleep 1000 &
CHILD=$!
sleep 0.5
while true; do
  EV=$(curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID")
  echo "ext: event $EV"
  case "$EV" in
    *SHUTDOWN*) kill "$CHILD"; echo "ext: bye"; exit 0;;
  esac
done
"#;

/// A runtime: answers every event with {"echo": <event>} (or never, with HANG set).
const BOOTSTRAP: &str = r#"#!/bin/bash
RAPI="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
echo "runtime: start $(date +%s%N) task=${LAMBDA_TASK_ROOT:-} handler=${_HANDLER:-}"
while true; do
  H=$(mktemp)
  EV=$(curl -sS -D "$H" "$RAPI/invocation/next")
  RID=$(grep -i '^lambda-runtime-aws-request-id:' "$H" | cut -d' ' -f2 | tr -d '\r\n')
  DL=$(grep -i '^lambda-runtime-deadline-ms:' "$H" | cut -d' ' -f2 | tr -d '\r\n')
  rm -f "$H"
  echo "runtime: got $RID deadline=$DL"
  if [ -n "${HANG:-}" ]; then sleep 1000; fi
  curl -sS -X POST "$RAPI/invocation/$RID/response" -d "{\"echo\":$EV,\"deadline\":$DL}" -o /dev/null
done
"#;

fn layer(dir: &TempDir) {
    write_exec(&dir.path().join("extensions/ext"), EXTENSION);
    write_exec(&dir.path().join("bootstrap"), BOOTSTRAP);
}

fn config(dir: &TempDir) -> SandboxConfig {
    let mut c = SandboxConfig::new(dir.path());
    c.echo_logs = std::env::var_os("SANDBOX_ECHO").is_some();
    c
}

fn log_value(logs: &str, prefix: &str) -> u128 {
    logs.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} line in logs:\n{logs}"))
}

fn all_stopped(sb: &Sandbox) -> Vec<lambda_sandbox::ProcessInfo> {
    sb.processes()
        .into_iter()
        .filter(|p| !matches!(p.state, 'T' | 't' | 'Z'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_invoke_freeze_shutdown() {
    let dir = TempDir::new("shell");
    layer(&dir);
    let sb = Sandbox::start(config(&dir)).await.expect("start");
    let init = sb.init_outcome();
    let logs = sb.logs();
    let InitOutcome::Ok { duration } = init else {
        panic!("init failed: {init:?}\n{logs}");
    };
    // Init gating: the runtime starts only after the extension registered, and Init
    // lasts until the extension is on /next (1 s + 0.5 s of sleeps).
    let before_register = log_value(&logs, "ext: before-register ");
    let runtime_start = log_value(&logs, "runtime: start ");
    assert!(
        runtime_start >= before_register + 900_000_000,
        "runtime started before the extension registered:\n{logs}"
    );
    assert!(duration >= Duration::from_millis(1400), "{duration:?}");
    assert!(logs.contains("INIT_START"), "{logs}");
    assert!(
        logs.lines()
            .any(|l| l.starts_with("INIT_REPORT Init Duration: ")
                && l.ends_with("\tPhase: init\tStatus: success")),
        "{logs}"
    );
    assert!(logs.contains("handler=handler"), "{logs}");

    // Frozen after Init: extension, its own-session child, runtime, all 'T'.
    let procs = sb.processes();
    assert!(procs.len() >= 3, "{procs:?}");
    assert!(procs.iter().any(|p| p.comm == "sleep"), "{procs:?}");
    let sleeper = procs.iter().find(|p| p.comm == "sleep").expect("sleep");
    let ext = procs
        .iter()
        .find(|p| p.pid == sleeper.ppid)
        .expect("extension process");
    assert_ne!(sleeper.pgid, ext.pgid, "child in its own process group");
    assert!(
        all_stopped(&sb).is_empty(),
        "not frozen: {:?}",
        all_stopped(&sb)
    );
    let pids: Vec<i32> = procs.iter().map(|p| p.pid).collect();

    for i in 0..2 {
        let out = sb.invoke(format!(r#"{{"n":{i}}}"#).into_bytes()).await;
        let body = out.result.clone().unwrap_or_else(|e| {
            panic!("invoke failed: {e:?}\n{}", sb.logs());
        });
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json answer");
        assert_eq!(v["echo"]["n"], i);
        assert!(
            v["deadline"].as_u64().unwrap_or(0) > 1_600_000_000_000,
            "{v}"
        );
        assert!(out.max_memory_used_mb > 0);
        // The extension got the INVOKE event for this request.
        let rid = out.request_id.clone();
        assert!(
            sb.wait_for_log(
                |l| l.starts_with("ext: event") && l.contains("\"INVOKE\"") && l.contains(&rid),
                Duration::from_secs(5)
            )
            .await,
            "{}",
            sb.logs()
        );
        let logs = sb.logs();
        assert!(logs.contains(&format!("START RequestId: {rid} Version: $LATEST")));
        assert!(logs.contains(&format!("END RequestId: {rid}")));
        let report = logs
            .lines()
            .find(|l| l.starts_with(&format!("REPORT RequestId: {rid}\t")))
            .expect("REPORT line");
        assert!(
            report.contains("\tMemory Size: 128 MB\tMax Memory Used: "),
            "{report}"
        );
        assert_eq!(report.contains("Init Duration"), i == 0, "{report}");
        // Frozen again between invokes.
        assert!(
            all_stopped(&sb).is_empty(),
            "not frozen: {:?}",
            all_stopped(&sb)
        );
    }

    let report = sb.shutdown().await;
    assert_eq!(report.extensions.len(), 1);
    let (name, exited) = &report.extensions[0];
    assert_eq!(name, "ext");
    let exited = exited.expect("extension exited by itself on SHUTDOWN");
    assert!(exited <= report.deadline);
    assert!(report.leftover.is_empty(), "{report:?}");
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} still there");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extension_init_error_fails_init() {
    let dir = TempDir::new("initerr");
    layer(&dir);
    let mut cfg = config(&dir);
    cfg.env.push(("EXT_INIT_ERROR".into(), "1".into()));
    let t0 = Instant::now();
    let sb = Sandbox::start(cfg).await.expect("start");
    match sb.init_outcome() {
        InitOutcome::Failed {
            error_type,
            error_message,
            body,
        } => {
            // The platform's type, as RIE records it; the extension's own type and
            // message are in the document it posted.
            assert_eq!(error_type, "Extension.InitError");
            assert_eq!(error_message, "blackbox_exporter exited");
            assert!(
                body.contains("\"errorType\":\"Extension.BlackboxExited\""),
                "{body}"
            );
        }
        o => panic!("{o:?}\n{}", sb.logs()),
    }
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert!(sb.processes().is_empty(), "{:?}", sb.processes());
    assert!(sb
        .logs()
        .contains("Status: error\tError Type: Extension.InitError"));
    let out = sb.invoke(b"{}".to_vec()).await;
    let err = out.result.expect_err("invoke after failed init");
    assert_eq!(err.error_type, "Extension.InitError");
    let document: serde_json::Value = serde_json::from_str(&err.body).unwrap();
    assert_eq!(document["errorType"], "Extension.InitError", "{}", err.body);
    assert_eq!(document["errorMessage"], "blackbox_exporter exited");
    let report = sb.shutdown().await;
    assert!(report.leftover.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_extension_name_is_refused() {
    let dir = TempDir::new("badname");
    layer(&dir);
    let mut cfg = config(&dir);
    cfg.env.push(("EXT_NAME_OVERRIDE".into(), "other".into()));
    cfg.init_timeout = Duration::from_secs(3);
    let sb = Sandbox::start(cfg).await.expect("start");
    match sb.init_outcome() {
        InitOutcome::Failed { error_type, .. } => {
            // The refused extension never registers; it then crashes on its empty id or
            // Init times out, depending on what the script does next.
            assert!(
                error_type == "Extension.Crash" || error_type == "Sandbox.Timedout",
                "{error_type}"
            );
        }
        o => panic!("{o:?}"),
    }
    assert!(sb.processes().is_empty());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_resets_and_reinits() {
    let dir = TempDir::new("timeout");
    layer(&dir);
    let mut cfg = config(&dir);
    cfg.env.push(("HANG".into(), "1".into()));
    cfg.function_timeout = Duration::from_secs(1);
    let sb = Sandbox::start(cfg).await.expect("start");
    assert!(matches!(sb.init_outcome(), InitOutcome::Ok { .. }));
    let first: Vec<i32> = sb.processes().iter().map(|p| p.pid).collect();
    let out = sb.invoke(b"{}".to_vec()).await;
    let err = out.result.expect_err("timeout");
    assert_eq!(err.error_type, "Sandbox.Timedout");
    assert!(
        err.body.contains("Task timed out after 1.00 seconds"),
        "{}",
        err.body
    );
    // The reset sends SHUTDOWN with reason timeout; the next invoke re-inits.
    assert!(
        sb.wait_for_log(
            |l| l.contains("\"shutdownReason\":\"timeout\""),
            Duration::from_secs(5)
        )
        .await,
        "{}",
        sb.logs()
    );
    let out = sb.invoke(b"{}".to_vec()).await;
    assert_eq!(
        out.result.expect_err("timeout again").error_type,
        "Sandbox.Timedout"
    );
    assert_eq!(sb.logs().matches("INIT_START").count(), 2, "{}", sb.logs());
    for pid in first {
        assert!(
            !pid_alive(pid),
            "old environment process {pid} survived the reset"
        );
    }
    let report = sb.shutdown().await;
    assert!(report.leftover.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_api_rejects_bad_calls() {
    let dir = TempDir::new("api");
    layer(&dir);
    let sb = Sandbox::start(config(&dir)).await.expect("start");
    let api = sb.runtime_api();
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let next = format!("http://{api}/2020-01-01/extension/event/next");
    let r = curl(&[&next]);
    assert!(
        r.ends_with("403") && r.contains("Extension.MissingExtensionIdentifier"),
        "{r}"
    );
    let r = curl(&[
        "-H",
        "Lambda-Extension-Identifier: 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        &next,
    ]);
    assert!(
        r.ends_with("403") && r.contains("Extension.UnknownExtensionIdentifier"),
        "{r}"
    );
    let reg = format!("http://{api}/2020-01-01/extension/register");
    let r = curl(&[
        "-X",
        "POST",
        "-H",
        "Lambda-Extension-Name: ext",
        "-d",
        "{}",
        &reg,
    ]);
    assert!(
        r.ends_with("403") && r.contains("Extension.RegistrationClosed"),
        "{r}"
    );
    let resp = format!("http://{api}/2018-06-01/runtime/invocation/nope/response");
    let r = curl(&["-X", "POST", "-d", "x", &resp]);
    assert!(r.ends_with("400") && r.contains("InvalidRequestID"), "{r}");
    sb.shutdown().await;
}
