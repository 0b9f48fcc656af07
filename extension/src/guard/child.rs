//! What blackbox's process does between fork and exec to put itself under the guard:
//! load the filter, tell the extension where its listener is (the extension takes a copy
//! with pidfd_getfd), and prove the path with two connections before blackbox's own code
//! runs — the first of them waits until the extension serves the listener. Only
//! async-signal-safe calls: this runs in a forked copy of a threaded process.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::filter::Program;

/// What went wrong in the child, sent to the extension as its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    NoNewPrivs = 2,
    Filter,
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
    const ALL: [Step; 7] = [
        Step::NoNewPrivs,
        Step::Filter,
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
#[derive(Clone)]
pub struct ChildSide {
    /// The child's end of the hand-over socket, as inherited (closed at exec).
    pub handoff: RawFd,
    pub guard: Program,
    pub refused: RawSockaddr,
    pub allowed: RawSockaddr,
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
    /// Runs in the child after fork, before exec.
    pub fn enter(&self) -> io::Result<()> {
        let fd = self.handoff;
        // SAFETY: prctl and seccomp with arguments that live until they return.
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
            // write(2) is not trapped, unlike a send of the descriptor itself: the message
            // says which descriptor of which process, and the extension copies it.
            let (number, pid) = (
                (listener as i32).to_le_bytes(),
                libc::getpid().to_le_bytes(),
            );
            let message = [
                LISTENER, number[0], number[1], number[2], number[3], pid[0], pid[1], pid[2],
                pid[3],
            ];
            if libc::write(fd, message.as_ptr().cast(), message.len()) != message.len() as isize {
                return fail(fd, Step::HandOver, errno());
            }
            // Closed at exec; blackbox never holds it.
        }
        match udp_connect(&self.refused) {
            Err(e) => return fail(fd, Step::SentinelSocket, e),
            Ok(libc::EACCES) => {}
            Ok(other) => return fail(fd, Step::RefusedSentinel, other),
        }
        match udp_connect(&self.allowed) {
            Err(e) => return fail(fd, Step::SentinelSocket, e),
            // Refused, or no listener there (ENOSYS): the path is broken. Anything else
            // (connected, or no route here) went past the guard.
            Ok(e @ (libc::EACCES | libc::EPERM | libc::ENOSYS)) => {
                return fail(fd, Step::AllowedSentinel, e)
            }
            Ok(_) => {}
        }
        // SAFETY: write(2) of a local byte.
        unsafe { libc::write(fd, [PASSED].as_ptr().cast(), 1) };
        Ok(())
    }
}
