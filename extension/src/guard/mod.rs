//! The connect guard: blackbox_exporter runs under a seccomp filter whose user
//! notifications hand every `connect(2)` and every send that names an address to the
//! extension, which checks the address against the same rules as the handler's early
//! refusal ([`AddressRules`]) and fails a refused call with EACCES. The address is
//! judged where it is certain, after blackbox's own resolver, redirects and retries.
//!
//! [`GuardMode`] says whether to try; [`Arming`] prepares one blackbox start (the
//! programs, the hand-over socket, the thread that will serve the listener);
//! [`Arming::outcome`] tells, once the spawn returned, whether the guard is on, and
//! gives the [`GuardHandle`] that keeps it for that process.

mod child;
mod destination;
mod filter;
mod handoff;
mod notifications;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_blackbox_address_rules::AddressRules;
use lambda_blackbox_contract::SettingsError;
use nix::errno::Errno;
use tokio::sync::oneshot;

pub use child::ChildSide;
use handoff::Message;

pub const CONNECT_GUARD_VAR: &str = "BLACKBOX_CONNECT_GUARD";

/// `BLACKBOX_CONNECT_GUARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// On where the kernel allows it, else off with the cause in the Init log.
    Auto,
    /// On, or Init fails with `Extension.ConnectGuardUnavailable`.
    Required,
    Off,
}

impl GuardMode {
    pub fn from_setting(value: Option<&str>) -> Result<Self, SettingsError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("auto") => Ok(GuardMode::Auto),
            Some("required") => Ok(GuardMode::Required),
            Some("off") => Ok(GuardMode::Off),
            Some(other) => Err(SettingsError::new(
                CONNECT_GUARD_VAR,
                format!("{other:?} is not auto, required or off"),
            )),
        }
    }
}

/// Why the guard is not on, with the errno where a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}{}", errno_text(.errno))]
pub struct Unavailable {
    pub what: String,
    pub errno: Option<i32>,
}

fn errno_text(errno: &Option<i32>) -> String {
    match errno {
        Some(0) => ": it connected".to_string(),
        Some(errno) => {
            let errno = Errno::from_raw(*errno);
            format!(": {errno:?} ({})", errno.desc())
        }
        None => String::new(),
    }
}

impl Unavailable {
    fn new(what: impl Into<String>, errno: Option<i32>) -> Self {
        Self {
            what: what.into(),
            errno,
        }
    }

    fn last_os_error(what: &str) -> Self {
        Self::new(what, io::Error::last_os_error().raw_os_error())
    }
}

/// Keeps the guard of one blackbox process: dropping it stops the serving thread (the
/// thread also ends by itself once no process uses the filter).
pub struct GuardHandle {
    _stop: OwnedFd,
}

/// One guarded start in preparation.
pub struct Arming {
    child: ChildSide,
    /// The tester's stack in the child; the parent's own copy is unmapped with this.
    _tester_stack: TesterStack,
    /// The parent's copy of the child's end, closed once the child has it.
    child_end: OwnedFd,
    stop: OwnedFd,
    outcome: oneshot::Receiver<Result<(), Unavailable>>,
    /// blackbox's process group once it runs: what the guard kills if it fails.
    process_group: Arc<AtomicI32>,
}

/// How long the child may take from fork to its self-test's answer.
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(5);
const THREAD_STACK: usize = 128 * 1024;
const TESTER_STACK: usize = 64 * 1024;

/// Memory for the tester's stack, mapped before the fork so the child allocates nothing.
struct TesterStack {
    base: *mut libc::c_void,
}

// SAFETY: the mapping is owned by this value alone; nothing reads it in this process.
unsafe impl Send for TesterStack {}

impl TesterStack {
    fn map() -> Result<Self, Unavailable> {
        // SAFETY: a new private anonymous mapping, owned by the value returned.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                TESTER_STACK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Unavailable::last_os_error("mapping the self-test's stack"));
        }
        Ok(Self { base })
    }

    /// Stacks grow down on every architecture Lambda runs.
    fn top(&self) -> usize {
        self.base as usize + TESTER_STACK
    }
}

impl Drop for TesterStack {
    fn drop(&mut self) {
        // SAFETY: unmapping what `map` mapped, once.
        unsafe { libc::munmap(self.base, TESTER_STACK) };
    }
}

impl Arming {
    /// `listen` is blackbox's listen address: the self-test's refused connection goes
    /// there (the rules refuse it whatever the allow list says; a UDP connect sends
    /// nothing). The allowed one goes to the first nameserver on port 53.
    pub fn new(rules: Arc<AddressRules>, listen: SocketAddr) -> Result<Self, Unavailable> {
        let allowed = SocketAddr::new(
            rules
                .nameservers()
                .first()
                .copied()
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            lambda_blackbox_address_rules::DNS_PORT,
        );
        let (parent_end, child_end) = seqpacket_pair()?;
        let (stop_read, stop_write) = pipe()?;
        let tester_stack = TesterStack::map()?;
        let child = ChildSide::new(
            child_end.as_raw_fd(),
            filter::guard_program(),
            listen,
            allowed,
            tester_stack.top(),
        );
        let (report, outcome) = oneshot::channel();
        let process_group = Arc::new(AtomicI32::new(0));
        let thread_process_group = process_group.clone();
        let judge = notifications::Judge {
            rules,
            sentinel: listen,
            sentinel_seen: false,
        };
        std::thread::Builder::new()
            .name("connect-guard".into())
            .stack_size(THREAD_STACK)
            .spawn(move || guard_thread(parent_end, stop_read, judge, report, thread_process_group))
            .map_err(|e| Unavailable::new("starting the guard's thread", e.raw_os_error()))?;
        Ok(Self {
            child,
            _tester_stack: tester_stack,
            child_end,
            stop: stop_write,
            outcome,
            process_group,
        })
    }

    /// What runs in blackbox's process between fork and exec.
    pub fn child_side(&self) -> ChildSide {
        self.child.clone()
    }

    /// Once the spawn has returned (`process_group`: blackbox's, when it started): the
    /// guard whose verdict is still to come.
    pub fn spawned(self, process_group: Option<i32>) -> PendingGuard {
        // The child and the tester hold their own copies now; with ours closed, their
        // deaths are seen as the socket's end.
        drop(self.child_end);
        if let Some(pgid) = process_group {
            self.process_group.store(pgid, Ordering::Release);
        }
        PendingGuard {
            stop: self.stop,
            outcome: self.outcome,
        }
    }
}

/// A guard set up for a spawned blackbox, its self-test running beside blackbox's own
/// start. Until the verdict, blackbox's trapped calls wait for the guard, as all do.
pub struct PendingGuard {
    stop: OwnedFd,
    outcome: oneshot::Receiver<Result<(), Unavailable>>,
}

impl PendingGuard {
    /// On, with the handle that keeps it, or why not (the child's or the tester's own
    /// account of the step that failed).
    pub async fn verdict(self) -> Result<GuardHandle, Unavailable> {
        match tokio::time::timeout(SELF_TEST_TIMEOUT, self.outcome).await {
            Ok(Ok(Ok(()))) => Ok(GuardHandle { _stop: self.stop }),
            Ok(Ok(Err(unavailable))) => Err(unavailable),
            Ok(Err(_)) => Err(Unavailable::new(
                "the guard's thread ended without a verdict",
                None,
            )),
            Err(_) => Err(Unavailable::new(
                "the guard's self-test did not finish in time",
                None,
            )),
        }
    }
}

/// Receives the listener (or the child's failure), then serves blackbox until it is
/// gone; the self-test's verdict arrives while its connections are served.
fn guard_thread(
    handoff: OwnedFd,
    stop: OwnedFd,
    judge: notifications::Judge,
    report: oneshot::Sender<Result<(), Unavailable>>,
    process_group: Arc<AtomicI32>,
) {
    let (fd, pid) = match handoff::receive(&handoff) {
        Ok(Message::Listener { fd, pid }) => (fd, pid),
        Ok(Message::Failed(unavailable)) | Err(unavailable) => {
            let _ = report.send(Err(unavailable));
            return;
        }
        Ok(Message::Passed) => {
            let _ = report.send(Err(Unavailable::new(
                "the hand-over came out of order",
                None,
            )));
            return;
        }
    };
    // The tester now waits in its first self-test connection for this listener to be
    // served: without it, it must not wait for ever.
    let listener = match handoff::take_descriptor(pid, fd) {
        Ok(listener) => listener,
        Err(errno) => {
            end_tester(pid);
            let _ = report.send(Err(Unavailable::new(
                child::Step::TakeListener.describe(),
                Some(errno),
            )));
            return;
        }
    };
    let verdict = notifications::SelfTest {
        handoff,
        report,
        tester: pid,
    };
    let mut on_failure = KillOnFailure {
        process_group,
        armed: true,
    };
    if let notifications::Ended::Failed(cause) =
        notifications::serve(listener, stop, judge, Some(verdict))
    {
        tracing::error!(
            cause,
            "connect guard failed; killing blackbox_exporter so that it is restarted under a new guard"
        );
        return;
    }
    on_failure.armed = false;
}

/// Waits for the tester, a child of the extension, to end: it has sent its last message
/// (or was killed) and exits at once.
pub(crate) fn reap(tester: libc::pid_t) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(tester), None);
}

/// Kills and reaps a tester the guard cannot go on with.
pub(crate) fn end_tester(tester: libc::pid_t) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tester),
        nix::sys::signal::Signal::SIGKILL,
    );
    reap(tester);
}

/// blackbox's process group, killed when the guard ends other than by being stopped
/// (a failure, or a panic while unwinding): its trapped calls would fail from then on,
/// and the supervisor restarts a dead blackbox under a new guard.
struct KillOnFailure {
    process_group: Arc<AtomicI32>,
    armed: bool,
}

impl Drop for KillOnFailure {
    fn drop(&mut self) {
        let pgid = self.process_group.load(Ordering::Acquire);
        if self.armed && pgid > 0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd), Unavailable> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair fills the two descriptors it creates.
    let result = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if result != 0 {
        return Err(Unavailable::last_os_error("socketpair for the hand-over"));
    }
    // SAFETY: both are new descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Unavailable> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two descriptors it creates.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Unavailable::last_os_error("pipe2 for the guard's stop"));
    }
    // SAFETY: both are new descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
