//! blackbox_exporter runs without the layer's secrets: what its process environment
//! holds, read from /proc as anything on the host could, under both harnesses.
#![cfg(feature = "layer")]

use lambda_blackbox_contract::replacement::EXTENSION_COMM;
use lambda_blackbox_e2e::harness::{Function, Harness, Platform};
use lambda_blackbox_e2e::*;

both_harnesses!(blackbox_s_environment_holds_none_of_our_secrets);

const TOKEN: &str = "environ-test-token-4f1d";
const SESSION: &str = "environ-test-session-9a2c";
const METADATA_TOKEN: &str = "environ-test-metadata-7b3e";

fn environ(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("/proc/<pid>/environ");
    String::from_utf8_lossy(&raw).replace('\0', "\n")
}

async fn blackbox_s_environment_holds_none_of_our_secrets(harness: Harness) {
    let layer = Function::start(
        harness,
        &[
            ("BLACKBOX_AUTH_TOKEN", TOKEN),
            ("AWS_SESSION_TOKEN", SESSION),
            ("AWS_SECRET_ACCESS_KEY", SESSION),
            ("AWS_LAMBDA_METADATA_TOKEN", METADATA_TOKEN),
            ("AWS_LAMBDA_METADATA_API", "169.254.100.1:9002"),
        ],
    )
    .await;
    let answer = layer
        .get(
            "/probe?target=127.0.0.1:1&module=tcp_connect",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .await;
    assert_ne!(answer.status, 401, "{}", answer.body);

    // The extension was given the secrets: the check below can fail.
    let extension = layer
        .processes()
        .into_iter()
        .find(|p| p.comm == EXTENSION_COMM)
        .expect("the extension runs");
    assert!(environ(extension.pid).contains(TOKEN));
    // RIE keeps the AWS_LAMBDA_* variables it sets itself; the sandbox passes them on.
    if harness.platform == Platform::Sandbox {
        assert!(environ(extension.pid).contains(METADATA_TOKEN));
    }

    let pids = layer.blackbox_pids();
    assert_eq!(pids.len(), 1, "one blackbox runs");
    let env = environ(pids[0]);
    for secret in [TOKEN, SESSION, METADATA_TOKEN, "BLACKBOX_"] {
        assert!(
            !env.contains(secret),
            "blackbox's environment holds {secret}:\n{env}"
        );
    }
    assert!(
        env.contains("AWS_REGION="),
        "the rest of the environment is kept:\n{env}"
    );
    layer.shutdown().await.assert_no_process_left();
}
