//! The users' path, for real: `sam build` of deploy/sam/template.yaml with the layer
//! `make test` built, then SAM's own `sam local invoke ProbeFunction -e events/function-url.json`,
//! which builds the function's image (RIE at /var/rapid, the layer at /opt) and runs it in
//! Docker. SAM exits 0 even when the container never answered, so each case reads the
//! answer it printed.
//!
//! The Docker daemon is the tests' own (scripts/sam-docker.sh daemon: no bridge, no
//! iptables), started here so that it shares this test's network namespace; its runtime
//! scripts/oci-rie-host-network gives RIE's container that namespace and RIE the port SAM
//! published. The base image SAM names (public.ecr.aws/lambda/provided:al2023-x86_64)
//! cannot be pulled here: it is a Debian bookworm minbase stand-in (`sam-docker.sh rootfs`).
//! Nothing is asked of AWS: no credentials, no metadata address, no telemetry.
#![cfg(feature = "layer")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_blackbox_e2e::replay::{event, source_answer, without_authorization, EVENT_TOKEN};
use lambda_blackbox_e2e::{layer_dir, metric, output_of, start_target, Answer, TempDir};
use serde_json::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sam_binary() -> PathBuf {
    let path = std::env::var_os("LAMBDA_BLACKBOX_SAM").map(PathBuf::from).expect(
        "LAMBDA_BLACKBOX_SAM is not set: run the tests with `make test`, which installs the SAM CLI in target/aws-sam-cli",
    );
    assert!(
        path.is_file(),
        "LAMBDA_BLACKBOX_SAM={}: no such file",
        path.display()
    );
    path
}

/// The tests' own dockerd, stopped when dropped.
struct Docker {
    daemon: Child,
    host: String,
    log: PathBuf,
}

impl Docker {
    fn start(dir: &Path) -> Docker {
        let script = repository().join("scripts/sam-docker.sh");
        let log = dir.join("dockerd.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let daemon = Command::new(&script)
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("scripts/sam-docker.sh daemon starts");
        let host = output_of(
            Command::new(&script).arg("host"),
            "scripts/sam-docker.sh host",
        );
        let docker = Docker {
            daemon,
            host: String::from_utf8_lossy(&host.stdout).trim().to_string(),
            log,
        };
        let until = Instant::now() + Duration::from_secs(60);
        while !docker.run(&["version"]).status.success() {
            assert!(
                Instant::now() < until,
                "dockerd does not answer after 60 s:\n{}",
                docker.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        output_of(
            Command::new(&script)
                .arg("image")
                .env("DOCKER_HOST", &docker.host),
            "scripts/sam-docker.sh image (the stand-in base image)",
        );
        docker
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &self.host)
            .output()
            .expect("the docker client runs")
    }

    fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// SAM with nothing of AWS about it: no credentials, no metadata address, no telemetry,
/// its settings saying it has just looked for a newer version (else it asks PyPI).
fn sam(dir: &Path, docker: &Docker) -> Command {
    let settings = dir.join("sam-settings");
    std::fs::create_dir_all(&settings).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        settings.join("metadata.json"),
        format!("{{\"lastVersionCheck\": {now}, \"telemetryEnabled\": false}}"),
    )
    .unwrap();
    let mut command = Command::new(sam_binary());
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("__SAM_CLI_APP_DIR", &settings)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("DOCKER_HOST", &docker.host)
        .stdin(Stdio::null());
    command
}

/// What `sam local invoke` printed: the function's result (stdout) as its Function URL
/// would answer, and the logs (stderr).
struct Invoked {
    answer: Answer,
    logs: String,
}

fn invoke(dir: &Path, docker: &Docker, event: &Value, allowed: &str) -> Invoked {
    let event_file = dir.join("event.json");
    std::fs::write(&event_file, event.to_string()).unwrap();
    // Only variables the template declares can be set (SAM drops the others).
    let env_file = dir.join("env.json");
    std::fs::write(
        &env_file,
        serde_json::json!({"ProbeFunction": {"BLACKBOX_ALLOWED_TARGETS": allowed}}).to_string(),
    )
    .unwrap();
    let out = sam(dir, docker)
        .args(["local", "invoke", "ProbeFunction", "--template"])
        .arg(dir.join("build/template.yaml"))
        .arg("--event")
        .arg(&event_file)
        .arg("--env-vars")
        .arg(&env_file)
        .args(["--skip-pull-image", "--shutdown", "--parameter-overrides"])
        .arg(format!(
            "Architecture=x86_64 ProbeToken={EVENT_TOKEN} AllowedTargets={allowed}"
        ))
        .output()
        .expect("sam local invoke runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "sam local invoke: {}\n{logs}",
        out.status
    );
    let result = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: sam printed no answer (the container did not answer?): {stdout:?}\n{logs}\n{}",
            docker.daemon_log()
        )
    });
    Invoked {
        answer: source_answer(result),
        logs,
    }
}

/// docs/deploy.md's block "sam-local-invoke" (`sam build`, then `sam local invoke` with an
/// events/ file), with the test's own build directory, layer and target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sam_local_invoke_runs_the_layer_built_by_sam_build() {
    let target = start_target().await;
    let dir = TempDir::new("sam-local");
    let dir_path = dir.path().to_path_buf();
    let live = target.addr.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let docker = Docker::start(&dir_path);
        output_of(
            sam(&dir_path, &docker)
                .current_dir(repository().join("deploy/sam"))
                .env("LAYER_SOURCE", layer_dir())
                .args(["build", "--build-dir"])
                .arg(dir_path.join("build"))
                .arg("--cache-dir")
                .arg(dir_path.join("cache"))
                .args(["--parameter-overrides", "Architecture=x86_64"]),
            "sam build",
        );
        let probe = event("function-url.json", &live);
        let live = invoke(&dir_path, &docker, &probe, "127.0.0.1");
        let unauthorised = invoke(
            &dir_path,
            &docker,
            &without_authorization(probe),
            "127.0.0.1",
        );
        let refused = invoke(
            &dir_path,
            &docker,
            &event("function-url.json", "127.0.0.2:9"),
            "127.0.0.1",
        );
        (live, unauthorised, refused)
    })
    .await;
    let (live, unauthorised, refused) = result.expect("the sam cases ran");

    assert_eq!(live.answer.status, 200, "{:?}\n{}", live.answer, live.logs);
    let body = &live.answer.body;
    assert_eq!(metric(body, "probe_success"), Some(1.0), "{body}");
    // Docker's default seccomp profile, which SAM's container runs under, lets no process
    // read another's memory or take its descriptors without CAP_SYS_PTRACE: auto mode
    // runs blackbox unguarded there, and says why.
    let guard = live
        .logs
        .lines()
        .find(|l| l.contains("connect guard: "))
        .unwrap_or_else(|| panic!("Init says whether the connect guard is on:\n{}", live.logs));
    assert!(
        guard.contains("connect guard: on") || guard.contains("connect guard: off ("),
        "{guard}"
    );
    eprintln!("sam local invoke: {}", guard.trim());
    assert_eq!(
        target.seen.lock().unwrap().as_slice(),
        ["/"],
        "one probe reached the target"
    );
    // --shutdown: the extension got SHUTDOWN and stopped blackbox.
    assert!(
        live.logs.contains("SHUTDOWN reason=\"sandboxterminated\"")
            && live.logs.contains("blackbox_exporter stopped"),
        "{}",
        live.logs
    );

    assert_eq!(unauthorised.answer.status, 401, "{:?}", unauthorised.answer);
    assert_eq!(
        unauthorised.answer.body,
        "an Authorization: Bearer token is required\n"
    );
    assert_eq!(refused.answer.status, 403, "{:?}", refused.answer);
    assert_eq!(
        refused.answer.body,
        "target 127.0.0.2:9 is not in BLACKBOX_ALLOWED_TARGETS\n"
    );
    assert_eq!(
        target.seen.lock().unwrap().len(),
        1,
        "the refused ones probed nothing"
    );
}
