//! The second harness: AWS's own Runtime Interface Emulator (the `aws-lambda-rie` binary
//! in the aws-sam-cli wheel) running the layer as Lambda lays it out: the layer at
//! `/opt`, an empty `/var/task`. It runs as root in a private mount and PID namespace
//! (`unshare`), so the machine's own `/opt` and `/var` are untouched; both of its ports
//! are loopback ports the test picks (its defaults would be 9001 and 0.0.0.0:8080).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use lambda_sandbox::proc_fs::{descendants, ProcessInfo};

use crate::free_port;

/// Inside the namespaces: the layer over /opt, a tmpfs over /var (so /var/task can exist
/// without creating it on the machine), the function's own package over /var/task when
/// there is one, then RIE in /var/task, its stderr on its stdout so that the log keeps
/// the order the processes wrote in. For arm64, qemu-user is registered with a
/// binfmt_misc of the namespace's own (Linux 6.7 and later give each user namespace one),
/// so the machine's binfmt_misc is untouched. $1 layer, $2 task directory or "", $3 qemu
/// or "", $4 RIE, then RIE's arguments.
const IN_NAMESPACE: &str = r#"set -e
mount --make-rprivate /
mount --bind "$1" /opt
mount -t tmpfs tmpfs /var
mkdir /var/task
if [ -n "$2" ]; then mount --bind "$2" /var/task; fi
if [ -n "$3" ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  printf ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:%s:F' "$3" \
    >/proc/sys/fs/binfmt_misc/register
fi
cd /var/task
rie=$4
shift 4
exec "$rie" "$@" 2>&1
"#;

/// The machine RIE and the layer run as.
#[derive(Debug, Clone)]
pub enum RieArch {
    X86_64,
    /// aarch64 under qemu-user (`qemu`, static), Debian's arm64 C library in `root` for
    /// the glibc-linked blackbox_exporter.
    Arm64 {
        qemu: PathBuf,
        root: PathBuf,
    },
}

/// The RIE binary: LAMBDA_BLACKBOX_RIE, which `make test` points at the SAM virtualenv's.
pub fn rie_binary() -> PathBuf {
    let path = std::env::var_os("LAMBDA_BLACKBOX_RIE").map(PathBuf::from).expect(
        "LAMBDA_BLACKBOX_RIE is not set: run the tests with `make test`, which takes AWS's RIE from the \
         aws-sam-cli virtualenv (samcli/local/rapid/aws-lambda-rie-x86_64)",
    );
    assert!(
        path.is_file(),
        "LAMBDA_BLACKBOX_RIE={}: no such file",
        path.display()
    );
    path
}

/// A function running under RIE; killed with its namespace when dropped.
pub struct RieFunction {
    unshare: Child,
    pub invoke_addr: SocketAddr,
    /// AWS_LAMBDA_RUNTIME_API (RIE serves the Runtime and Extensions APIs there).
    pub runtime_api: SocketAddr,
    output: Arc<Mutex<String>>,
}

fn collect(pipe: impl Read + Send + 'static, output: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = output.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
}

impl RieFunction {
    /// Starts RIE with the layer, the function's package (`task`, at /var/task; else an
    /// empty /var/task) and `env` (nothing of the test's own environment but PATH). RIE
    /// runs Init at the first invoke, as it does in a container.
    pub fn start(
        layer: &Path,
        task: Option<&Path>,
        env: &[(&str, &str)],
        timeout_s: u32,
    ) -> RieFunction {
        RieFunction::start_on(&RieArch::X86_64, layer, task, env, timeout_s)
    }

    /// As [`RieFunction::start`], with RIE and the layer built for `arch`; arm64 runs
    /// `aws-lambda-rie-arm64` (beside LAMBDA_BLACKBOX_RIE) in a user namespace too, for
    /// its binfmt_misc.
    pub fn start_on(
        arch: &RieArch,
        layer: &Path,
        task: Option<&Path>,
        env: &[(&str, &str)],
        timeout_s: u32,
    ) -> RieFunction {
        let invoke_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let runtime_api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut command = Command::new("unshare");
        let mut ld_prefix = None;
        let (rie, qemu) = match arch {
            RieArch::X86_64 => (rie_binary(), None),
            RieArch::Arm64 { qemu, root } => {
                command.args(["--user", "--map-root-user"]);
                ld_prefix = Some(root.clone());
                let rie = rie_binary().with_file_name("aws-lambda-rie-arm64");
                assert!(rie.is_file(), "{}: no such file", rie.display());
                (rie, Some(qemu.clone()))
            }
        };
        command
            .args(["--mount", "--pid", "--fork", "--kill-child", "--mount-proc"])
            .args(["sh", "-c", IN_NAMESPACE, "sh"])
            .arg(layer)
            .arg(task.map(Path::as_os_str).unwrap_or_default())
            .arg(qemu.as_deref().map(Path::as_os_str).unwrap_or_default())
            .arg(rie)
            .args(["--runtime-api-address", &runtime_api.to_string()])
            .args([
                "--runtime-interface-emulator-address",
                &invoke_addr.to_string(),
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout_s.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "lambda-blackbox")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_REGION", "local-1")
            .envs(env.iter().copied())
            .envs(ld_prefix.iter().map(|root| ("QEMU_LD_PREFIX", root)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut unshare = command
            .spawn()
            .expect("unshare starts (util-linux; the RIE harness runs as root)");
        let output = Arc::new(Mutex::new(String::new()));
        collect(unshare.stdout.take().unwrap(), output.clone());
        collect(unshare.stderr.take().unwrap(), output.clone());
        let function = RieFunction {
            unshare,
            invoke_addr,
            runtime_api,
            output,
        };
        function.wait_for_listener();
        function
    }

    fn wait_for_listener(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.invoke_addr).is_err() {
            assert!(
                Instant::now() < until,
                "RIE does not listen on {} after 10 s:\n{}",
                self.invoke_addr,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// RIE's lines and every process's, as they came.
    pub fn logs(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// RIE itself (pid 1 of its namespace; this is its pid on the machine).
    pub fn rie_pid(&self) -> i32 {
        self.processes()
            .first()
            .map(|p| p.pid)
            .expect("unshare has forked RIE")
    }

    /// Every process under unshare: RIE, the extension, blackbox, the bootstrap.
    pub fn processes(&self) -> Vec<ProcessInfo> {
        descendants(self.unshare.id() as i32)
    }

    /// SIGTERM to RIE, as a container stop sends it: RIE sends SHUTDOWN to the extensions
    /// and exits. Returns its exit status, or panics after `limit`.
    pub fn terminate(self, limit: Duration) -> (ExitStatus, String) {
        let (status, logs, _) = self.terminate_watching(limit, &[]);
        (status, logs)
    }

    /// As [`RieFunction::terminate`], and for each of `watched` how long after SIGTERM it
    /// was gone (`None`: still there when RIE exited, and so ended by the namespace, not by
    /// itself).
    pub fn terminate_watching(
        mut self,
        limit: Duration,
        watched: &[ProcessInfo],
    ) -> (ExitStatus, String, Vec<Option<Duration>>) {
        kill(Pid::from_raw(self.rie_pid()), Signal::SIGTERM).expect("RIE takes SIGTERM");
        let started = Instant::now();
        let until = started + limit;
        let mut gone: Vec<Option<Duration>> = vec![None; watched.len()];
        loop {
            for (process, gone_at) in watched.iter().zip(gone.iter_mut()) {
                let now = lambda_sandbox::proc_fs::read_process(process.pid);
                let alive =
                    now.is_some_and(|p| p.start_time == process.start_time && p.state != 'Z');
                if gone_at.is_none() && !alive {
                    *gone_at = Some(started.elapsed());
                }
            }
            if let Some(status) = self.unshare.try_wait().expect("wait for unshare") {
                // The pipes close when the last process of the namespace is gone.
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.logs(), gone);
            }
            assert!(
                Instant::now() < until,
                "RIE is still running {limit:?} after SIGTERM:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RieFunction {
    fn drop(&mut self) {
        // --kill-child: the namespace's processes go with unshare.
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}
