//! The guard's mechanism on this kernel, with a real child: its connections to
//! loopback listeners that record what reaches them.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use blackbox_extension::guard::Arming;
use lambda_blackbox_address_rules::AddressRules;

fn rules(vars: &[(&str, String)]) -> Arc<AddressRules> {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let env = lambda_blackbox_contract::Environment::from_pairs(&vars, &[]);
    Arc::new(AddressRules::from_environment(&env, "nameserver 127.0.0.53\n").unwrap())
}

/// A loopback listener that counts the connections it accepts.
struct Recorder {
    listener: TcpListener,
}

impl Recorder {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }
    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }
    fn contacts(&self) -> usize {
        std::iter::from_fn(|| self.listener.accept().ok()).count()
    }
}

/// bash connects with /dev/tcp; its stderr says how each connection ended.
fn run_guarded(rules: Arc<AddressRules>, script: &str) -> (Result<(), String>, String) {
    let arming = Arming::new(rules, "127.0.0.1:9115".parse().unwrap()).unwrap();
    let child_side = arming.child_side();
    let mut command = Command::new("bash");
    command
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the child side makes only async-signal-safe calls.
    unsafe { command.pre_exec(move || child_side.enter()) };
    let spawned = command.spawn();
    let process_group = spawned.as_ref().ok().map(|child| child.id() as i32);
    let guard = arming.spawned(process_group);
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(guard.verdict())
        .map_err(|e| e.to_string());
    let mut child = spawned.expect("bash starts under the guard");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    (outcome.map(drop), stderr)
}

#[test]
fn a_refused_connection_fails_with_eacces_and_an_allowed_one_connects() {
    let allowed = Recorder::new();
    let refused = Recorder::new();
    let rules = rules(&[(
        "BLACKBOX_ALLOWED_TARGETS",
        format!("127.0.0.1:{}", allowed.addr().port()),
    )]);
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{a} && echo allowed-ok >&2; exec 4<>/dev/tcp/127.0.0.1/{r} && echo refused-ok >&2; exec 5<>/dev/tcp/127.0.0.1/9115; true",
        a = allowed.addr().port(),
        r = refused.addr().port(),
    );
    let (outcome, stderr) = run_guarded(rules, &script);
    assert_eq!(outcome, Ok(()), "{stderr}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(allowed.contacts(), 1, "{stderr}");
    assert_eq!(refused.contacts(), 0, "{stderr}");
    assert!(stderr.contains("allowed-ok"), "{stderr}");
    assert!(!stderr.contains("refused-ok"), "{stderr}");
    assert_eq!(
        stderr.matches("connect: Permission denied").count(),
        2,
        "{stderr}"
    );
}

#[test]
fn what_the_child_starts_is_guarded_too() {
    let refused = Recorder::new();
    let script = format!(
        "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{}'; true",
        refused.addr().port()
    );
    let (outcome, stderr) = run_guarded(rules(&[]), &script);
    assert_eq!(outcome, Ok(()), "{stderr}");
    assert_eq!(refused.contacts(), 0, "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
}
