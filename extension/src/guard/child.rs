//! What blackbox's process does between fork and exec to put itself under the guard:
//! load the filter, then start a tester that shares the filter and goes on while blackbox
//! execs. The tester tells the extension where the listener is (the extension takes a
//! copy with pidfd_getfd) and proves the path with two connections; the first waits until
//! the extension serves the listener. Until then the tester's copy keeps the listener
//! open, so blackbox's own trapped calls wait for the guard too: none goes unjudged.
//! Only async-signal-safe calls: this runs in a forked copy of a threaded process.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::filter::Program;

/// What went wrong in the child, sent to the extension as its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    NoNewPrivs = 2,
    Filter,
    /// Starting the tester (clone), or the tester finding the extension gone.
    Tester,
    HandOver,
    /// The extension could not take the listener (pidfd_getfd), and ended the child.
    TakeListener,
    SentinelSocket,
    /// A connection the rules refuse was not refused with EACCES (the errno it got, or 0).
    RefusedSentinel,
    /// A connection the rules allow was refused (the errno).
    AllowedSentinel,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::NoNewPrivs,
        Step::Filter,
        Step::Tester,
        Step::HandOver,
        Step::TakeListener,
        Step::SentinelSocket,
        Step::RefusedSentinel,
        Step::AllowedSentinel,
    ];

    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|step| *step as u8 == byte)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Step::NoNewPrivs => "prctl(PR_SET_NO_NEW_PRIVS)",
            Step::Filter => "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)",
            Step::Tester => "starting the guard's self-test",
            Step::HandOver => "telling the extension where the listener is (write)",
            Step::TakeListener => "taking blackbox's listener (pidfd_getfd)",
            Step::SentinelSocket => "the self-test's socket",
            Step::RefusedSentinel => "the self-test: a connection the rules refuse was not refused",
            Step::AllowedSentinel => "the self-test: a connection the rules allow was refused",
        }
    }
}

/// Message kinds on the hand-over socket.
pub const LISTENER: u8 = b'L';
pub const FAILED: u8 = b'F';
pub const PASSED: u8 = b'T';

/// A socket address laid out as `connect(2)` takes it, made before the fork.
#[derive(Clone, Copy)]
pub struct RawSockaddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
    family: libc::c_int,
}

impl RawSockaddr {
    pub fn new(address: SocketAddr) -> Self {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let (len, family) = match address {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_in fits in sockaddr_storage, which is aligned for it.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                (std::mem::size_of::<libc::sockaddr_in>(), libc::AF_INET)
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                (std::mem::size_of::<libc::sockaddr_in6>(), libc::AF_INET6)
            }
        };
        Self {
            storage,
            len: len as libc::socklen_t,
            family,
        }
    }
}

/// Everything the child needs, built before the fork so that the child allocates nothing.
pub struct ChildSide {
    /// The child's end of the hand-over socket, as inherited (closed at exec).
    pub handoff: RawFd,
    pub guard: Program,
    pub refused: RawSockaddr,
    pub allowed: RawSockaddr,
    /// The extension's pid: the tester's parent, whose death ends it.
    pub extension: libc::pid_t,
    /// The top of a stack mapped before the fork, for the tester.
    pub tester_stack_top: usize,
    /// The listener's descriptor number, set by the child for the tester.
    listener: AtomicI32,
}

impl Clone for ChildSide {
    fn clone(&self) -> Self {
        Self {
            handoff: self.handoff,
            guard: self.guard.clone(),
            refused: self.refused,
            allowed: self.allowed,
            extension: self.extension,
            tester_stack_top: self.tester_stack_top,
            listener: AtomicI32::new(self.listener.load(Ordering::Relaxed)),
        }
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Tells the extension which step failed, then fails the spawn with its errno.
fn fail(fd: RawFd, step: Step, errno: i32) -> io::Result<()> {
    let e = errno.to_le_bytes();
    let message = [FAILED, step as u8, e[0], e[1], e[2], e[3]];
    // SAFETY: write(2) of a local buffer; async-signal-safe.
    unsafe { libc::write(fd, message.as_ptr().cast(), message.len()) };
    Err(io::Error::from_raw_os_error(if errno == 0 {
        libc::EPERM
    } else {
        errno
    }))
}

/// The errno of one UDP `connect` to `address` (0 when it connected). UDP sends nothing
/// on connect: no packet leaves, whatever the verdict.
fn udp_connect(address: &RawSockaddr) -> Result<i32, i32> {
    // SAFETY: plain system calls on a socket this function owns.
    unsafe {
        let fd = libc::socket(address.family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(errno());
        }
        let result = libc::connect(
            fd,
            &address.storage as *const _ as *const libc::sockaddr,
            address.len,
        );
        let outcome = if result == 0 { 0 } else { errno() };
        libc::close(fd);
        Ok(outcome)
    }
}

impl ChildSide {
    pub fn new(
        handoff: RawFd,
        guard: Program,
        refused: SocketAddr,
        allowed: SocketAddr,
        tester_stack_top: usize,
    ) -> Self {
        Self {
            handoff,
            guard,
            refused: RawSockaddr::new(refused),
            allowed: RawSockaddr::new(allowed),
            // SAFETY: getpid cannot fail.
            extension: unsafe { libc::getpid() },
            tester_stack_top,
            listener: AtomicI32::new(-1),
        }
    }

    /// Runs in the child after fork, before exec.
    pub fn enter(&self) -> io::Result<()> {
        let fd = self.handoff;
        // SAFETY: prctl, seccomp and clone with arguments that live until they return;
        // the tester runs on its own stack, mapped before the fork.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail(fd, Step::NoNewPrivs, errno());
            }
            let guard = self.guard.fprog();
            // SPEC_ALLOW: the filter decides where blackbox connects; it is no sandbox
            // against blackbox's own code, so the kernel's speculation mitigations for
            // sandboxed code (SSBD, STIBP), which slow every probe, stay as they were.
            let listener = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                &guard as *const _,
            );
            if listener < 0 {
                return fail(fd, Step::Filter, errno());
            }
            self.listener.store(listener as i32, Ordering::Relaxed);
            // The tester shares this memory (nothing is copied) and keeps it once blackbox
            // has exec'd; its parent is the extension, which reaps it. The listener is
            // closed here at exec (O_CLOEXEC): blackbox never holds it.
            let tester = libc::clone(
                tester_main,
                self.tester_stack_top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_PARENT | libc::SIGCHLD,
                self as *const Self as *mut libc::c_void,
            );
            if tester < 0 {
                return fail(fd, Step::Tester, errno());
            }
        }
        Ok(())
    }

    /// The tester: hands the listener over, then runs the self-test.
    fn test(&self) -> Result<(), (Step, i32)> {
        let fd = self.handoff;
        let listener = self.listener.load(Ordering::Relaxed);
        // It inherited every descriptor of the child, which never execs here: among them
        // the pipe on whose end at exec the extension's spawn waits, and blackbox's
        // stdout and stderr.
        keep_only(fd, listener);
        // SAFETY: prctl, getppid and write(2) of local buffers.
        unsafe {
            // Its first connection waits for the extension: if the extension is gone, so
            // is the tester.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                || libc::getppid() != self.extension
            {
                return Err((Step::Tester, libc::ESRCH));
            }
            // write(2) is not trapped, unlike a send of the descriptor itself: the message
            // says which descriptor of which process, and the extension copies it.
            let (number, pid) = (listener.to_le_bytes(), libc::getpid().to_le_bytes());
            let message = [
                LISTENER, number[0], number[1], number[2], number[3], pid[0], pid[1], pid[2],
                pid[3],
            ];
            if libc::write(fd, message.as_ptr().cast(), message.len()) != message.len() as isize {
                return Err((Step::HandOver, errno()));
            }
        }
        match udp_connect(&self.refused) {
            Err(e) => return Err((Step::SentinelSocket, e)),
            Ok(libc::EACCES) => {}
            Ok(other) => return Err((Step::RefusedSentinel, other)),
        }
        // Answered: the extension holds its own copy of the listener now.
        // SAFETY: closing this process's copy of a descriptor it no longer uses.
        unsafe { libc::close(listener) };
        match udp_connect(&self.allowed) {
            Err(e) => return Err((Step::SentinelSocket, e)),
            // Refused, or no listener there (ENOSYS): the path is broken. Anything else
            // (connected, or no route here) went past the guard.
            Ok(e @ (libc::EACCES | libc::EPERM | libc::ENOSYS)) => {
                return Err((Step::AllowedSentinel, e))
            }
            Ok(_) => {}
        }
        Ok(())
    }
}

/// Closes every descriptor but `a` and `b`: close_range(2) (Linux 5.9), else one by one
/// up to the descriptor limit.
fn keep_only(a: RawFd, b: RawFd) {
    let (low, high) = (a.min(b) as libc::c_uint, a.max(b) as libc::c_uint);
    let below = |n: libc::c_uint| n.checked_sub(1);
    for (first, last) in [
        (0, below(low)),
        (low + 1, below(high)),
        (high + 1, Some(libc::c_uint::MAX)),
    ] {
        let Some(last) = last.filter(|last| first <= *last) else {
            continue;
        };
        // SAFETY: closing descriptors of this process, which uses none of them.
        if unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) } != 0 {
            // SAFETY: as above; getrlimit fills a local value.
            unsafe {
                let mut limit: libc::rlimit = std::mem::zeroed();
                let top = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                    limit.rlim_cur.min(65_536) as libc::c_uint
                } else {
                    1024
                };
                for descriptor in first..=last.min(top) {
                    libc::close(descriptor as libc::c_int);
                }
            }
        }
    }
}

/// The tester's entry: `arg` is the child's [`ChildSide`], which outlives the tester's use
/// of it (the child keeps it until exec, and the memory stays the tester's after).
extern "C" fn tester_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `&ChildSide` that `enter` passed to clone.
    let side = unsafe { &*(arg as *const ChildSide) };
    match side.test() {
        Ok(()) => {
            // SAFETY: write(2) of a local byte.
            unsafe { libc::write(side.handoff, [PASSED].as_ptr().cast(), 1) };
            0
        }
        Err((step, errno)) => {
            let _ = fail(side.handoff, step, errno);
            1
        }
    }
}
