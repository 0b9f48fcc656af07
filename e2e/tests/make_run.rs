//! `make run`'s script (scripts/run-local.sh) as a user meets it on a busy machine: blackbox's
//! usual port (9115) and the Runtime API's (9001) held by someone else do not matter; a port
//! the user chose that is taken ends it at once, naming the port, instead of a sandbox that
//! answers 502 to every probe.
#![cfg(feature = "layer")]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_blackbox_contract::{ListenAddress, LISTEN_ADDRESS_VAR};
use lambda_blackbox_e2e::{free_port, layer_dir, start_target, workspace_binary};

fn run_local(env: &[(&str, String)]) -> Child {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/run-local.sh");
    Command::new(script)
        .arg(workspace_binary("lambda-sandbox"))
        .arg(layer_dir())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run-local.sh starts")
}

/// Waits for the script to end by itself: its status and what it printed.
fn ended(mut child: Child, within: Duration) -> (bool, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            return (status.success(), said);
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {within:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ctrl-C, as a user ends `make run`: it must end cleanly within 10 s; what it printed.
fn interrupted(child: Child) -> String {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (ok, said) = ended(child, Duration::from_secs(10));
    assert!(ok, "{said}");
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackboxs_and_the_runtime_apis_usual_ports_taken_do_not_matter() {
    // Held here, or by whoever holds them already: either way taken.
    let _held: Vec<_> = [ListenAddress::default().port(), 9001]
        .iter()
        .filter_map(|port| TcpListener::bind(("127.0.0.1", *port)).ok())
        .collect();
    let target = start_target().await;
    let url = format!("127.0.0.1:{}", free_port());
    let mut child = run_local(&[
        ("FUNCTION_URL_LISTEN", url.clone()),
        ("INVOKE_LISTEN", format!("127.0.0.1:{}", free_port())),
    ]);
    let client = reqwest::Client::new();
    let probe = format!(
        "http://{url}/probe?target=http://{}/&module=http_2xx",
        target.addr
    );
    let started = Instant::now();
    let body = loop {
        if let Ok(answer) = client.get(&probe).send().await {
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            assert_eq!(status, 200, "{body}");
            break body;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "make run ended ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no Function URL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body.contains("probe_success 1"), "{body}");
    interrupted(child);
}

#[test]
fn a_chosen_port_that_is_taken_ends_it_at_once_naming_the_port() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for (variable, what) in [
        ("FUNCTION_URL_LISTEN", "binding the function URL on"),
        ("INVOKE_LISTEN", "binding the invoke endpoint on"),
        (LISTEN_ADDRESS_VAR, "Init failed (Extension."),
    ] {
        let mut env = vec![
            ("FUNCTION_URL_LISTEN", format!("127.0.0.1:{}", free_port())),
            ("INVOKE_LISTEN", format!("127.0.0.1:{}", free_port())),
        ];
        env.retain(|(k, _)| *k != variable);
        env.push((variable, format!("127.0.0.1:{port}")));
        let (ok, said) = ended(run_local(&env), Duration::from_secs(20));
        assert!(!ok, "{variable}: {said}");
        assert!(said.contains(what), "{variable}: {said}");
        assert!(
            said.contains(&format!("127.0.0.1:{port}")),
            "{variable}: {said}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_folders_blackbox_yml_is_the_config() {
    let target = start_target().await;
    let dir = lambda_blackbox_e2e::TempDir::new("make-run-function");
    std::fs::write(
        dir.join("blackbox.yml"),
        "modules:\n  only_here: {prober: tcp, timeout: 3s, tcp: {preferred_ip_protocol: ip4}}\n",
    )
    .unwrap();
    let url = format!("127.0.0.1:{}", free_port());
    let mut child = run_local(&[
        ("FUNCTION_URL_LISTEN", url.clone()),
        ("INVOKE_LISTEN", format!("127.0.0.1:{}", free_port())),
        ("FUNCTION_DIR", dir.path().display().to_string()),
    ]);
    let client = reqwest::Client::new();
    let probe = |module: &str| format!("http://{url}/probe?target={}&module={module}", target.addr);
    let started = Instant::now();
    let body = loop {
        if let Ok(answer) = client.get(probe("only_here")).send().await {
            break answer.text().await.unwrap_or_default();
        }
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!("make run ended: {}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no Function URL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(body.contains("probe_success 1"), "{body}");
    // The layer's modules are gone: blackbox knows only the folder's.
    let layers = client.get(probe("http_2xx")).send().await.unwrap();
    let status = layers.status().as_u16();
    let said = layers.text().await.unwrap_or_default();
    assert_ne!(status, 200, "{said}");
    let said = interrupted(child);
    assert!(said.contains("blackbox.yml from"), "{said}");
}
