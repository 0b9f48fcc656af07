//! AWS's own Python runtime interface client (`awslambdaric`) as the bootstrap: the
//! sandbox's Runtime API must be good enough for the real client.

mod common;

use std::time::Duration;

use common::{write_exec, TempDir};
use lambda_sandbox::{InitOutcome, Sandbox, SandboxConfig};

const APP: &str = r#"
def handler(event, context):
    return {
        "echo": event,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"#;

/// The interpreter that has awslambdaric; FAILS (not skips) when there is none.
fn python_with_awslambdaric() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys, awslambdaric; print(sys.executable)"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); this test needs python3 with awslambdaric (pip install awslambdaric)"));
    assert!(
        out.status.success(),
        "python3 cannot import awslambdaric (pip install awslambdaric): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An empty layer and a task whose bootstrap runs `app.py` under awslambdaric, and the
/// sandbox configuration for them (the directories live as long as the two guards).
fn awslambdaric_function(app: &str) -> (TempDir, TempDir, SandboxConfig) {
    let python = python_with_awslambdaric();
    let layer = TempDir::new("py-layer");
    let task = TempDir::new("py-task");
    std::fs::write(task.path().join("app.py"), app).expect("app.py");
    write_exec(
        &task.path().join("bootstrap"),
        &format!(
            "#!/bin/sh\nexport PYTHONPATH=\"$LAMBDA_TASK_ROOT\"\nexec {python} -m awslambdaric app.handler\n"
        ),
    );
    let mut cfg = SandboxConfig::new(layer.path());
    cfg.task_dir = Some(task.path().to_path_buf());
    (layer, task, cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "awslambdaric"),
    ignore = "needs Python's awslambdaric: run it with `make test`"
)]
async fn awslambdaric_answers_through_invoke_function_url_and_rie_endpoint() {
    let (_layer, _task, mut cfg) = awslambdaric_function(APP);
    cfg.handler = "app.handler".into();
    cfg.function_url_addr = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.invoke_addr = Some("127.0.0.1:0".parse().expect("addr"));
    cfg.function_timeout = Duration::from_secs(20);
    cfg.echo_logs = std::env::var_os("SANDBOX_ECHO").is_some();
    let sb = Sandbox::start(cfg).await.expect("start");
    assert!(
        matches!(sb.init_outcome(), InitOutcome::Ok { .. }),
        "{:?}\n{}",
        sb.init_outcome(),
        sb.logs()
    );

    // Direct invoke.
    let out = sb.invoke(br#"{"hello":"world"}"#.to_vec()).await;
    let answer = out
        .result
        .clone()
        .unwrap_or_else(|e| panic!("{e:?}\n{}", sb.logs()));
    let v: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(v["echo"]["hello"], "world");
    assert_eq!(v["request_id"], out.request_id.as_str());
    let remaining = v["remaining_ms"].as_i64().expect("remaining_ms");
    assert!(remaining > 10_000 && remaining <= 20_000, "{remaining}");

    // Through the Function URL front.
    let url = sb.function_url().expect("function url");
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{url}/some/path?b=%20x&a=1&a=2"))
        .header("x-custom", "v")
        .send()
        .await
        .expect("function url answers");
    assert_eq!(resp.status().as_u16(), 200);
    let rid = resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(ct, "application/json");
    let v: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json body");
    let ev = &v["echo"];
    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["rawPath"], "/some/path");
    assert_eq!(ev["rawQueryString"], "b=%20x&a=1&a=2");
    assert_eq!(ev["queryStringParameters"]["a"], "1,2");
    assert_eq!(ev["queryStringParameters"]["b"], " x");
    assert_eq!(ev["headers"]["x-custom"], "v");
    assert_eq!(ev["requestContext"]["http"]["method"], "GET");
    assert_eq!(ev["requestContext"]["requestId"], rid.as_str());
    assert_eq!(v["request_id"], rid.as_str());

    // Through the RIE-compatible endpoint.
    let inv = sb.invoke_url().expect("invoke url");
    let resp = client
        .post(format!(
            "http://{inv}/2015-03-31/functions/function/invocations"
        ))
        .body(r#"{"x":1}"#)
        .send()
        .await
        .expect("invoke endpoint answers");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().get("x-amz-function-error").is_none());
    let v: serde_json::Value =
        serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    assert_eq!(v["echo"]["x"], 1);

    // Frozen between invokes.
    let running: Vec<_> = sb
        .processes()
        .into_iter()
        .filter(|p| !matches!(p.state, 'T' | 't' | 'Z'))
        .collect();
    assert!(running.is_empty(), "{running:?}");

    let report = sb.shutdown().await;
    assert!(report.leftover.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "awslambdaric"),
    ignore = "needs Python's awslambdaric: run it with `make test`"
)]
async fn awslambdaric_import_error_fails_init() {
    let (_layer, _task, mut cfg) = awslambdaric_function("import no_such_module_xyz\n");
    cfg.echo_logs = std::env::var_os("SANDBOX_ECHO").is_some();
    let sb = Sandbox::start(cfg).await.expect("start");
    // awslambdaric reports an import failure on its first invoke as
    // Runtime.ImportModuleError via /init/error, or (depending on its version) during
    // Init. Either way the error type must name the import failure.
    let err = match sb.init_outcome() {
        InitOutcome::Failed { error_type, .. } => error_type,
        InitOutcome::Ok { .. } => {
            let out = sb.invoke(b"{}".to_vec()).await;
            out.result.expect_err("import error").error_type
        }
    };
    assert_eq!(err, "Runtime.ImportModuleError", "{}", sb.logs());
    let report = sb.shutdown().await;
    assert!(report.leftover.is_empty(), "{report:?}");
}
