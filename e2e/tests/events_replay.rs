//! The `events/` files of `sam local invoke -e` (Function URL, API Gateway v2 and v1,
//! ALB), replayed through the invoke endpoint of RIE and of the sandbox's copy of it, with
//! the real layer: its extension, blackbox_exporter and Rust bootstrap.
#![cfg(feature = "layer")]

use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::replay::{assert_shape, event, invoke, replay_all, EVENTS, EVENT_TOKEN};
use lambda_blackbox_e2e::{both_harnesses, start_target};

both_harnesses!(
    every_event_file_gets_a_probe_answer_in_its_sources_shape,
    a_malformed_host_header_is_a_400_with_its_reason_from_every_source,
);

async fn every_event_file_gets_a_probe_answer_in_its_sources_shape(harness: Harness) {
    let target = start_target().await;
    let function = Function::start(harness, &[("BLACKBOX_AUTH_TOKEN", EVENT_TOKEN)]).await;
    let invoke_addr = function.invoke_addr();

    let live = target.addr.to_string();
    replay_all(invoke_addr, &live, 1.0).await;
    // Each probe reached the target with the path the event asked for.
    let seen = target.seen.lock().unwrap().clone();
    assert_eq!(seen, vec!["/"; 4], "{}", function.logs());

    // A dead target: blackbox answers, the probe fails.
    let dead = format!("127.0.0.1:{}", lambda_blackbox_e2e::free_port());
    replay_all(invoke_addr, &dead, 0.0).await;

    // The target policy applies to every source: loopback is refused unless listed.
    let refused = invoke(
        invoke_addr,
        &lambda_blackbox_e2e::replay::event("alb.json", "127.0.0.2:9"),
    )
    .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        refused.body,
        "target 127.0.0.2:9 is not in BLACKBOX_ALLOWED_TARGETS\n"
    );

    function.shutdown().await.assert_no_process_left();
}

/// lambda_http cannot build a request from these `Host` values (it panicked, and the
/// caller got a 502 with no reason); the handler answers 400 with the part it could not
/// read, in each source's shape, and the same runtime serves on.
async fn a_malformed_host_header_is_a_400_with_its_reason_from_every_source(harness: Harness) {
    let target = start_target().await;
    let function = Function::start(harness, &[("BLACKBOX_AUTH_TOKEN", EVENT_TOKEN)]).await;
    let invoke_addr = function.invoke_addr();
    let live = target.addr.to_string();
    // RIE starts the runtime at the first invoke.
    let first = invoke(invoke_addr, &event("function-url.json", &live)).await;
    assert_eq!(first.status, 200, "{first:?}");
    target.seen.lock().unwrap().clear();
    let before = function.runtime_pids();
    assert_eq!(before.len(), 1);

    for (name, shape) in EVENTS {
        for host in ["a b", "[::1", "host:99999", "ho%st"] {
            let mut event = event(name, &live);
            let headers = event["headers"].as_object_mut().expect("headers");
            headers.retain(|k, _| !k.eq_ignore_ascii_case("host"));
            headers.insert("host".into(), host.into());
            let answer = invoke(invoke_addr, &event).await;
            assert_eq!(answer.status, 400, "{name} Host: {host}: {answer:?}");
            assert_eq!(
                answer.body,
                format!("malformed request: the Host header {host:?} is not valid in a URL\n"),
                "{name}"
            );
            assert!(
                answer.content_type().starts_with("text/plain"),
                "{answer:?}"
            );
            assert_shape(&answer, shape, name);
        }
    }
    assert!(target.seen.lock().unwrap().is_empty(), "nothing was probed");
    replay_all(invoke_addr, &live, 1.0).await;
    assert_eq!(
        function.runtime_pids(),
        before,
        "the same runtime process served throughout"
    );
    let logs = function.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    function.shutdown().await.assert_no_process_left();
}
