//! "Attach the layer to an existing function": a handler port (handler/python,
//! handler/node) as the function's own code under AWS's runtime interface client for its
//! language, with the real layer's extension and blackbox_exporter. Every port must give
//! the event files the Rust bootstrap's answers and leave the target policy to the
//! connect guard; tests/python_handler.rs and tests/node_handler.rs run these checks
//! under both harnesses.

use std::time::Duration;

use crate::harness::{Function, Harness};
use crate::recorder::Recorder;
use crate::replay::{replay_all, EVENT_TOKEN};
use crate::{
    assert_probe_failed, assert_probe_succeeded, free_port, node_task, python_task, start_target,
    TempDir,
};

/// A handler for a managed runtime, run by that runtime's interface client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerPort {
    /// handler/python/blackbox_proxy.py under `awslambdaric`.
    Python,
    /// handler/node/index.mjs under `aws-lambda-ric`.
    Node,
}

impl HandlerPort {
    /// The function's package: the handler and a bootstrap that runs it under the
    /// runtime interface client.
    pub fn task(self, name: &str) -> TempDir {
        match self {
            HandlerPort::Python => python_task(name),
            HandlerPort::Node => node_task(name),
        }
    }

    /// The runtime as the handler names itself in its messages ("this Python handler").
    pub fn runtime(self) -> &'static str {
        match self {
            HandlerPort::Python => "Python",
            HandlerPort::Node => "Node.js",
        }
    }

    /// The layer with this handler as the function's code; the package lives as long as
    /// the returned directory.
    pub async fn start(
        self,
        harness: Harness,
        name: &str,
        env: &[(&str, &str)],
    ) -> (Function, TempDir) {
        let task = self.task(name);
        let function = Function::launch(harness)
            .task(task.path())
            .env(env)
            .start()
            .await;
        (function, task)
    }
}

/// The events/ files, the Function URL's gate, the scrape timeout and a blackbox restart,
/// with the Rust handler's answers.
pub async fn answers_every_event_file_like_the_rust_one(port: HandlerPort, harness: Harness) {
    let target = start_target().await;
    // The port checks no target: the connect guard lets blackbox reach loopback because
    // the allow list names it.
    let (layer, task) = port
        .start(
            harness,
            &format!("{port:?}-handler"),
            &[
                ("BLACKBOX_AUTH_TOKEN", EVENT_TOKEN),
                ("BLACKBOX_ALLOWED_TARGETS", "127.0.0.1"),
            ],
        )
        .await;
    layer.assert_initialized();
    let invoke_addr = layer.invoke_addr();

    replay_all(invoke_addr, &target.addr.to_string(), 1.0).await;
    assert_eq!(target.seen.lock().unwrap().clone(), vec!["/"; 4]);
    replay_all(invoke_addr, &format!("127.0.0.1:{}", free_port()), 0.0).await;

    // Through the Function URL, as Prometheus scrapes it.
    let auth = format!("Bearer {EVENT_TOKEN}");
    let probe = format!("/probe?target=http://{}/ok&module=http_2xx", target.addr);
    let ok = layer.get(&probe, &[("authorization", &auth)]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.content_type().starts_with("text/plain"),
        "{}",
        ok.content_type()
    );
    assert_probe_succeeded(&ok);
    assert!(target.seen.lock().unwrap().contains(&"/ok".to_string()));

    // The gate, with the Rust handler's statuses and reasons.
    let wrong = layer.get(&probe, &[("authorization", "Bearer nope")]).await;
    assert_eq!(
        (wrong.status, wrong.body.as_str()),
        (401, "the bearer token is wrong\n")
    );
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Bearer realm=\"lambda-blackbox\"")
    );
    let post = layer
        .request(reqwest::Method::POST, &probe, &[("authorization", &auth)])
        .await;
    assert_eq!(
        (post.status, post.body.as_str(), post.header("allow")),
        (
            405,
            "method POST is not allowed: use GET or HEAD\n",
            Some("GET, HEAD")
        )
    );
    let config_page = layer.get("/config", &[("authorization", &auth)]).await;
    assert_eq!(
        (config_page.status, config_page.body.as_str()),
        (
            404,
            "/config is not served: lambda-blackbox serves /probe\n"
        )
    );
    let debug = layer
        .get(&format!("{probe}&debug=true"), &[("authorization", &auth)])
        .await;
    assert_eq!(debug.status, 403, "{}", debug.body);

    // The scrape timeout reaches blackbox: a 5 s target, a 1.5 s scrape, probe_success 0
    // well before the target answers.
    let slow = layer
        .get(
            &format!("/probe?target=http://{}/slow&module=http_2xx", target.addr),
            &[
                ("authorization", &auth),
                ("x-prometheus-scrape-timeout-seconds", "1.5"),
            ],
        )
        .await;
    assert_probe_failed(&slow);
    assert!(slow.elapsed < Duration::from_secs(3), "{:?}", slow.elapsed);

    // blackbox killed while the environment is frozen (RIE: between invokes): the
    // extension restarts it, the handler waits for it, the probe succeeds.
    let started = layer.logs().matches("START RequestId").count();
    layer.wait_for_reports(started).await;
    let before = layer.blackbox_pids();
    assert_eq!(before.len(), 1, "{:?}", layer.processes());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[0]),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    let after = layer.get(&probe, &[("authorization", &auth)]).await;
    assert_eq!(after.status, 200, "{}\n{}", after.body, layer.logs());
    assert_probe_succeeded(&after);
    assert_ne!(layer.blackbox_pids(), before, "blackbox was restarted");

    let logs = layer.logs();
    assert!(!logs.contains(EVENT_TOKEN), "the token reached a log line");
    assert!(
        logs.contains(&format!(
            "targets are checked by the extension's connect guard, not by this {} handler",
            port.runtime()
        )),
        "who checks targets is announced at Init:\n{logs}"
    );
    layer.shutdown().await.assert_no_process_left();
    drop(task);
}

/// A target the allow list does not name is forwarded to blackbox and refused by the
/// guard; with the guard off, a policy the port cannot enforce stops every probe.
pub async fn leaves_the_target_policy_to_the_connect_guard(port: HandlerPort, harness: Harness) {
    let target = start_target().await;
    let decoy = Recorder::on_loopback().await;
    let (layer, task) = port
        .start(
            harness,
            &format!("{port:?}-handler-policy"),
            &[(
                "BLACKBOX_ALLOWED_TARGETS",
                &format!("127.0.0.1:{}", target.addr.port()),
            )],
        )
        .await;
    layer.assert_initialized();
    let listed = layer
        .probe(&format!("http://{}/listed", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&listed);
    let refused = layer
        .probe(&format!("http://127.0.0.1:{}/", decoy.port), "http_2xx")
        .await;
    assert_probe_failed(&refused);
    assert_eq!(decoy.contacts(), [], "{}", layer.logs());
    let logs = layer.logs();
    assert!(logs.contains("connect guard: on"), "{logs}");
    assert!(
        logs.contains(&format!("127.0.0.1:{}", decoy.port))
            && logs.contains("rule=not in BLACKBOX_ALLOWED_TARGETS"),
        "the extension logs the refusal with its address and rule:\n{logs}"
    );
    layer.shutdown().await.assert_no_process_left();

    let (unguarded, task2) = port
        .start(
            harness,
            &format!("{port:?}-handler-unguarded"),
            &[
                (
                    "BLACKBOX_ALLOWED_TARGETS",
                    &format!("127.0.0.1:{}", target.addr.port()),
                ),
                ("BLACKBOX_CONNECT_GUARD", "off"),
            ],
        )
        .await;
    let answer = unguarded
        .probe(&format!("http://{}/listed", target.addr), "http_2xx")
        .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.body.contains(&format!(
            "BLACKBOX_ALLOWED_TARGETS is set but the connect guard is off \
             (BLACKBOX_CONNECT_GUARD=off); this {} handler checks no target",
            port.runtime()
        )),
        "{}",
        answer.body
    );
    unguarded.shutdown().await.assert_no_process_left();
    drop((task, task2));
}
