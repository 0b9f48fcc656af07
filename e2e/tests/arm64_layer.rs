//! The arm64 layer zip, run under qemu-user on this x86_64 machine: our two binaries are
//! static aarch64 executables, and in the sandbox the arm64 extension starts the arm64
//! blackbox_exporter and a probe through the arm64 handler succeeds.
//!
//! `make test` unzips `dist/lambda-blackbox-<version>-arm64.zip` and sets
//! `LAMBDA_BLACKBOX_ARM64_LAYER` to that directory, and `LAMBDA_BLACKBOX_ARM64_ROOT` to a
//! directory holding Debian's arm64 C library (the blackbox_exporter that CI puts in the
//! arm64 zip is Debian's, linked against glibc). binfmt_misc is not registered here, so the
//! sandbox runs wrapper scripts that exec `qemu-aarch64-static` on the real binaries.
//! qemu-user answers `/proc/self/exe` with the guest binary's path, so the extension finds
//! its layer root (and `blackbox/blackbox.yml`) in the unzipped arm64 layer.
#![cfg(feature = "layer")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lambda_blackbox_contract::{blackbox_config_path, LISTEN_ADDRESS_VAR};
use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::*;

fn env_dir(name: &str, what: &str) -> PathBuf {
    let dir = std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{name} is not set: it should name {what}; run these tests with `make test`, which builds and unzips the arm64 layer")
    });
    assert!(dir.is_dir(), "{name}={} is not a directory", dir.display());
    dir
}

fn arm64_layer() -> PathBuf {
    let dir = env_dir(
        "LAMBDA_BLACKBOX_ARM64_LAYER",
        "the unzipped arm64 layer zip",
    );
    assert!(
        dir.join("extensions/blackbox-extension").is_file(),
        "{} is not a layer directory",
        dir.display()
    );
    dir
}

fn arm64_root() -> PathBuf {
    let dir = env_dir(
        "LAMBDA_BLACKBOX_ARM64_ROOT",
        "a directory with Debian's arm64 libc6 unpacked (qemu's -L root)",
    );
    assert!(
        dir.join("lib/ld-linux-aarch64.so.1").exists(),
        "{} has no lib/ld-linux-aarch64.so.1 (Debian's libc6:arm64)",
        dir.display()
    );
    dir
}

fn qemu() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("qemu-aarch64-static"))
        .find(|p| p.is_file())
        .expect("qemu-aarch64-static is not on the PATH (Debian's qemu-user-static)")
}

fn file_says(path: &Path) -> String {
    let out = Command::new("file")
        .arg("-b")
        .arg(path)
        .output()
        .expect("`file` runs (Debian's file package)");
    assert!(out.status.success(), "file {}", path.display());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write_wrapper(path: &Path, exec: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\nexec {exec} \"$@\"\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn quoted(path: &Path) -> String {
    let s = path.display().to_string();
    assert!(!s.contains('\''), "{s}: a path with a quote");
    format!("'{s}'")
}

/// The command line of every process of the sandbox, space-separated.
fn command_lines(function: &Function) -> Vec<String> {
    function
        .processes()
        .into_iter()
        .filter_map(|p| std::fs::read(format!("/proc/{}/cmdline", p.pid)).ok())
        .map(|raw| {
            String::from_utf8_lossy(&raw)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .collect()
}

#[test]
fn the_arm64_extension_and_handler_are_static_aarch64_executables() {
    let layer = arm64_layer();
    for name in ["extensions/blackbox-extension", "bootstrap"] {
        let path = layer.join(name);
        let says = file_says(&path);
        assert!(says.contains("ARM aarch64"), "{name}: {says}");
        assert!(says.contains("statically linked"), "{name}: {says}");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "{name}: mode {mode:o}");
    }
    let says = file_says(&layer.join("bin/blackbox_exporter"));
    assert!(
        says.contains("ARM aarch64"),
        "bin/blackbox_exporter: {says}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_qemu_the_arm64_layer_starts_blackbox_and_probes_through_the_function_url() {
    let layer = arm64_layer();
    let root = arm64_root();
    let qemu = qemu();

    // What the sandbox runs: wrappers that put the real arm64 binaries under qemu.
    let dir = TempDir::new("arm64-layer");
    write_wrapper(
        &dir.join("extensions/blackbox-extension"),
        &format!(
            "{} {}",
            quoted(&qemu),
            quoted(&layer.join("extensions/blackbox-extension"))
        ),
    );
    write_wrapper(
        &dir.join("bootstrap"),
        &format!("{} {}", quoted(&qemu), quoted(&layer.join("bootstrap"))),
    );
    let blackbox = dir.join("qemu-blackbox_exporter");
    write_wrapper(
        &blackbox,
        &format!(
            "{} -L {} {}",
            quoted(&qemu),
            quoted(&root),
            quoted(&layer.join("bin/blackbox_exporter"))
        ),
    );

    let target = start_target().await;
    let started = Function::launch(Harness::SANDBOX)
        .layer(&dir)
        .env(&[
            ("BLACKBOX_EXPORTER_BIN", &blackbox.display().to_string()),
            // blackbox_exporter under emulation starts in about a second; leave room.
            ("BLACKBOX_READY_TIMEOUT_MS", "9500"),
        ])
        .start()
        .await;
    started.assert_initialized();
    let blackbox_port = started.blackbox_port;

    // The arm64 extension started the arm64 blackbox_exporter, with the layer's own
    // blackbox.yml (its layer root comes from its exe path, as qemu reports it).
    let lines = command_lines(&started);
    let config_arg = format!(
        "--config.file={}",
        blackbox_config_path(None, &layer, false).display()
    );
    assert!(
        lines.iter().any(|l| l.contains("qemu-aarch64-static")
            && l.contains(&layer.join("bin/blackbox_exporter").display().to_string())
            && l.contains(&config_arg)
            && l.contains(&format!("--web.listen-address=127.0.0.1:{blackbox_port}"))),
        "no arm64 blackbox_exporter with {config_arg} among {lines:#?}"
    );
    for name in ["extensions/blackbox-extension", "bootstrap"] {
        let real = layer.join(name).display().to_string();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("qemu-aarch64-static") && l.contains(&real)),
            "no {real} under qemu among {lines:#?}"
        );
    }

    let answer = started
        .probe(&format!("http://{}/arm64", target.addr), "http_2xx")
        .await;
    assert_probe_succeeded(&answer);
    assert_eq!(target.seen.lock().unwrap().as_slice(), ["/arm64"]);

    // The handler's target policy runs in the arm64 build too.
    let refused = started.probe("http://169.254.169.254/", "http_2xx").await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    let report = started.shutdown_sandbox().await;
    assert_eq!(report.reason, "spindown", "{report:?}");
    // SHUTDOWN reached the arm64 extension, which stopped blackbox and exited in time.
    assert!(
        report.killed.is_empty() && report.leftover.is_empty(),
        "{report:?}"
    );
    drop(dir);
}

/// The arm64 layer under AWS's own arm64 RIE (`aws-lambda-rie-arm64`), everything under
/// qemu-user through a binfmt_misc of the RIE namespace's own: RIE starts the arm64
/// extension, which starts the arm64 blackbox_exporter; a Function URL event probes through
/// the arm64 bootstrap; SIGTERM ends it with SHUTDOWN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_qemu_the_arm64_layer_runs_under_aws_s_arm64_rie() {
    use lambda_blackbox_e2e::replay::{event, invoke, EVENT_TOKEN};
    use lambda_blackbox_e2e::rie::{RieArch, RieFunction};

    let layer = arm64_layer();
    let arch = RieArch::Arm64 {
        qemu: qemu(),
        root: arm64_root(),
    };
    let target = start_target().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let function = tokio::task::spawn_blocking(move || {
        let env = [
            (LISTEN_ADDRESS_VAR, listen.as_str()),
            ("BLACKBOX_ALLOWED_TARGETS", "127.0.0.1"),
            ("BLACKBOX_AUTH_TOKEN", EVENT_TOKEN),
            // blackbox_exporter under emulation starts in about a second; leave room.
            ("BLACKBOX_READY_TIMEOUT_MS", "9500"),
        ];
        RieFunction::start_on(&arch, &layer, None, &env, 30)
    })
    .await
    .expect("arm64 RIE starts");
    let answer = invoke(
        function.invoke_addr,
        &event("function-url.json", &target.addr.to_string()),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}\n{}", function.logs());
    assert_eq!(
        metric(&answer.body, "probe_success"),
        Some(1.0),
        "{}",
        answer.body
    );
    assert_eq!(target.seen.lock().unwrap().as_slice(), ["/"]);

    // Each process of the environment is an aarch64 program run by qemu.
    let processes = function.processes();
    assert!(
        processes.len() >= 4,
        "RIE, the extension, blackbox, the bootstrap: {processes:?}"
    );
    for process in &processes {
        let exe = std::fs::read_link(format!("/proc/{}/exe", process.pid)).unwrap_or_default();
        assert!(
            exe.ends_with("qemu-aarch64-static"),
            "{} ({}) runs {} natively",
            process.pid,
            process.comm,
            exe.display()
        );
    }

    let (status, logs) =
        tokio::task::spawn_blocking(move || function.terminate(std::time::Duration::from_secs(10)))
            .await
            .unwrap();
    assert!(status.success(), "RIE exits 0 on SIGTERM: {status}\n{logs}");
    assert!(
        logs.contains("SHUTDOWN reason=\"sandboxterminated\"")
            && logs.contains("blackbox_exporter stopped"),
        "{logs}"
    );
}
