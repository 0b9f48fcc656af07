//! The extension's side of the guard: a thread that takes each trapped call of
//! blackbox's process, reads the address it names from that process's memory, and lets
//! the kernel go on or fails the call with EACCES. A thread of its own, blocked in
//! poll(2), so that a probe's connection never waits on the tokio runtime and the
//! runtime never waits on the guard; Lambda's freeze stops it like any thread.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;

use lambda_blackbox_address_rules::AddressRules;

use super::destination::{
    msghdr_name, parse_sockaddr, Destination, MAX_MMSG, MAX_SOCKADDR, MMSGHDR_SIZE, MSGHDR_SIZE,
};
use super::handoff::{self, Message};
use super::Unavailable;

/// linux/seccomp.h's flag, which the libc crate does not have.
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: libc::c_ulong = 1;

/// Receives that fail in a row before the guard gives up.
const MAX_FAILED_RECEIVES: u32 = 1000;

/// The verdict on one trapped call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Failed with this errno; `why` is logged (None: not worth a line).
    Refuse {
        errno: i32,
        why: Option<Refused>,
    },
}

/// What the guard's log line says of a refusal: never more than where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub call: &'static str,
    pub destination: String,
    pub rule: String,
}

/// What the guard decides by; the self-test's first refusal is expected, not logged.
pub struct Judge {
    pub rules: Arc<AddressRules>,
    pub sentinel: SocketAddr,
    pub sentinel_seen: bool,
}

/// The nscd cache daemon's socket, which glibc's resolver asks first (blackbox built
/// with cgo): a local cache, no target can name it.
const NSCD_SOCKETS: [&[u8]; 2] = [b"/var/run/nscd/socket", b"/run/nscd/socket"];

impl Judge {
    pub fn destination(&mut self, call: &'static str, destination: Destination) -> Verdict {
        let refuse = |destination: String, rule: String| Verdict::Refuse {
            errno: libc::EACCES,
            why: Some(Refused {
                call,
                destination,
                rule,
            }),
        };
        match destination {
            Destination::Peer | Destination::Netlink => Verdict::Allow,
            Destination::Unspecified if call == "connect" => Verdict::Allow,
            Destination::Unspecified => refuse(
                "family 0".into(),
                "AF_UNSPEC in a send (the kernel sends to the address in it)".into(),
            ),
            Destination::Unix(path) if NSCD_SOCKETS.contains(&path.as_slice()) => Verdict::Allow,
            // grpc's unix: and unix-abstract: resolvers would dial a socket of this host.
            Destination::Unix(path) => refuse(
                format!("unix:{}", String::from_utf8_lossy(&path).escape_debug()),
                "a socket on the function's own host (AF_UNIX)".into(),
            ),
            Destination::Malformed => Verdict::Refuse {
                errno: libc::EINVAL,
                why: None,
            },
            Destination::Family(family) => refuse(
                format!("family {family}"),
                "not an IP address family".into(),
            ),
            Destination::Inet(ip, port) => match self.rules.check(ip, Some(port)) {
                Ok(()) => Verdict::Allow,
                Err(rule) => {
                    let shown = SocketAddr::new(ip, port);
                    if !self.sentinel_seen && canonical(shown) == canonical(self.sentinel) {
                        self.sentinel_seen = true;
                        return Verdict::Refuse {
                            errno: libc::EACCES,
                            why: None,
                        };
                    }
                    refuse(shown.to_string(), rule.to_string())
                }
            },
        }
    }
}

fn canonical(address: SocketAddr) -> (IpAddr, u16) {
    (
        lambda_blackbox_address_rules::canonical_ip(address.ip()),
        address.port(),
    )
}

/// Set once process_vm_readv has been refused to this process.
static PROCESS_VM_READV_REFUSED: AtomicBool = AtomicBool::new(false);

/// Reads `len` bytes at `address` in process `pid`.
fn read_memory(pid: u32, address: u64, len: usize) -> Result<Vec<u8>, i32> {
    let mut buffer = vec![0u8; len];
    if len == 0 {
        return Ok(buffer);
    }
    let local = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: len,
    };
    // A seccomp profile may refuse process_vm_readv (Docker's does without
    // CAP_SYS_PTRACE) where /proc/<pid>/mem, under the same permission check, is open:
    // once refused, it is not asked again.
    let read = if PROCESS_VM_READV_REFUSED.load(Ordering::Relaxed) {
        read_proc_mem(pid, address, &mut buffer)?
    } else {
        // SAFETY: the local iovec covers `buffer`, which outlives the call.
        let read = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
        if read >= 0 {
            read as usize
        } else {
            let errno = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            if !matches!(errno, libc::EPERM | libc::ENOSYS) {
                return Err(errno);
            }
            PROCESS_VM_READV_REFUSED.store(true, Ordering::Relaxed);
            read_proc_mem(pid, address, &mut buffer)?
        }
    };
    if read != len {
        return Err(libc::EFAULT);
    }
    Ok(buffer)
}

/// The same read through `/proc/<pid>/mem`.
fn read_proc_mem(pid: u32, address: u64, buffer: &mut [u8]) -> Result<usize, i32> {
    use std::os::unix::fs::FileExt;
    let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).map_err(errno)?;
    mem.read_at(buffer, address).map_err(errno)
}

/// The address of a `sockaddr` argument, read from the caller's memory.
fn sockaddr_at(pid: u32, pointer: u64, len: u64) -> Result<Destination, i32> {
    if pointer == 0 || len == 0 {
        // No address: the socket's own peer, already judged when it connected.
        return Ok(Destination::Peer);
    }
    let len = (len as usize).min(MAX_SOCKADDR);
    Ok(parse_sockaddr(&read_memory(pid, pointer, len)?))
}

/// Why a call could not be judged: the errno it fails with.
fn unreadable(errno: i32) -> Verdict {
    // EFAULT is the caller's own bad pointer, which the kernel would fail alike;
    // anything else is ours, and fails closed.
    Verdict::Refuse {
        errno: if errno == libc::EFAULT {
            libc::EFAULT
        } else {
            libc::EACCES
        },
        why: None,
    }
}

/// The verdict on one notification.
pub fn judge(judge: &mut Judge, notification: &libc::seccomp_notif) -> Verdict {
    let pid = notification.pid;
    let args = notification.data.args;
    let nr = notification.data.nr as libc::c_long;
    let destinations: Result<Vec<(&'static str, Destination)>, i32> = match nr {
        // Lengths and counts are C ints: the kernel reads their low 32 bits.
        libc::SYS_connect => {
            sockaddr_at(pid, args[1], u64::from(args[2] as u32)).map(|d| vec![("connect", d)])
        }
        libc::SYS_sendto => {
            sockaddr_at(pid, args[4], u64::from(args[5] as u32)).map(|d| vec![("sendto", d)])
        }
        libc::SYS_sendmsg => read_memory(pid, args[1], MSGHDR_SIZE).and_then(|header| {
            let (pointer, len) = msghdr_name(&header);
            sockaddr_at(pid, pointer, len as u64).map(|d| vec![("sendmsg", d)])
        }),
        libc::SYS_sendmmsg => {
            let count = (args[2] as u32 as usize).min(MAX_MMSG);
            read_memory(pid, args[1], count * MMSGHDR_SIZE).and_then(|headers| {
                headers
                    .chunks(MMSGHDR_SIZE)
                    .map(|header| {
                        let (pointer, len) = msghdr_name(&header[..MSGHDR_SIZE]);
                        sockaddr_at(pid, pointer, len as u64).map(|d| ("sendmmsg", d))
                    })
                    .collect()
            })
        }
        _ => Ok(vec![("an unexpected call", Destination::Family(0))]),
    };
    match destinations {
        Err(errno) => unreadable(errno),
        Ok(destinations) => destinations
            .into_iter()
            .map(|(call, destination)| judge.destination(call, destination))
            .find(|verdict| *verdict != Verdict::Allow)
            .unwrap_or(Verdict::Allow),
    }
}

/// Where the self-test's verdict comes from and goes to.
pub struct SelfTest {
    pub handoff: OwnedFd,
    pub report: oneshot::Sender<Result<(), Unavailable>>,
    /// The tester's pid, reaped once its verdict is in.
    pub tester: libc::pid_t,
}

/// Why serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Asked to, or nobody uses the filter any more.
    Stopped,
    /// The guard cannot go on: the cause. With its listener closed, the kernel fails
    /// every trapped call (ENOSYS) rather than let one through.
    Failed(String),
}

/// Serves `listener` until blackbox's process (and all it started) is gone or `stop`
/// closes; `self_test`'s verdict is passed on when it comes.
pub fn serve(
    listener: OwnedFd,
    stop: OwnedFd,
    mut judge_state: Judge,
    mut self_test: Option<SelfTest>,
) -> Ended {
    // Linux 6.6 and later: the caller hands its CPU straight to this thread and back, as
    // a synchronous call would, instead of waking an idle CPU twice. Older kernels refuse
    // the flag, and the notifications work without it.
    // SAFETY: this request takes its flags as the argument itself, not through a pointer.
    unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
    let mut failed_receives = 0u32;
    loop {
        if let Some(test) = self_test.take_if(|test| readable(&test.handoff)) {
            let verdict = match handoff::receive(&test.handoff) {
                Ok(Message::Passed) => Ok(()),
                Ok(Message::Failed(unavailable)) | Err(unavailable) => Err(unavailable),
                Ok(Message::Listener { .. }) => Err(Unavailable {
                    what: "the hand-over came out of order".into(),
                    errno: None,
                }),
            };
            // Its last message is in: it exits at once, unless out of order, where it is ended.
            super::end_tester(test.tester);
            let _ = test.report.send(verdict);
        }
        let handoff_fd = self_test
            .as_ref()
            .map_or(-1, |test| test.handoff.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            // A negative descriptor is skipped by poll.
            libc::pollfd {
                fd: handoff_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll over descriptors this thread owns.
        if unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) } < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Ended::Failed(format!("poll: {error}"));
        }
        if fds[1].revents != 0 {
            return Ended::Stopped;
        }
        if fds[2].revents != 0 {
            continue;
        }
        if fds[0].revents & libc::POLLIN == 0 {
            // POLLHUP: no process uses the filter any more.
            return Ended::Stopped;
        }
        // The kernel requires a zeroed structure.
        // SAFETY: seccomp_notif is plain data.
        let mut notification: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        if let Err(errno) = ioctl(&listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notification) {
            // ENOENT: the caller was interrupted (a signal) and will call again. Anything
            // that keeps failing ends the guard.
            failed_receives += 1;
            if failed_receives >= MAX_FAILED_RECEIVES {
                return Ended::Failed(format!(
                    "SECCOMP_IOCTL_NOTIF_RECV: {}",
                    nix::errno::Errno::from_raw(errno)
                ));
            }
            continue;
        }
        failed_receives = 0;
        let verdict = judge(&mut judge_state, &notification);
        if let Verdict::Refuse {
            why: Some(refused), ..
        } = &verdict
        {
            tracing::warn!(
                call = refused.call,
                destination = %refused.destination,
                rule = %refused.rule,
                "connect guard refused a connection of blackbox_exporter"
            );
        }
        // No SECCOMP_IOCTL_NOTIF_ID_VALID between the read and the answer: the answer only
        // lets the kernel go on or fails the call, and the kernel takes it only while the
        // caller still waits — alive, so its pid (what was read) is still its own.
        let mut response = libc::seccomp_notif_resp {
            id: notification.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        match verdict {
            Verdict::Allow => response.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Verdict::Refuse { errno, .. } => response.error = -errno,
        }
        let _ = ioctl(&listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut response);
    }
}

fn readable(fd: &OwnedFd) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll over one descriptor, without waiting.
    unsafe { libc::poll(&mut pollfd, 1, 0) > 0 }
}

fn ioctl<T>(fd: &OwnedFd, request: libc::Ioctl, argument: &mut T) -> Result<(), i32> {
    // SAFETY: each request is given the structure the kernel defines for it.
    let result = unsafe { libc::ioctl(fd.as_raw_fd(), request, argument as *mut T) };
    if result < 0 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge() -> Judge {
        let rules = AddressRules::from_environment(
            &lambda_blackbox_contract::Environment::from_pairs(
                &[("BLACKBOX_ALLOWED_TARGETS", "127.0.0.1:8080")],
                &[],
            ),
            "nameserver 169.254.78.1\n",
        )
        .unwrap();
        Judge {
            rules: Arc::new(rules),
            sentinel: "127.0.0.1:9115".parse().unwrap(),
            sentinel_seen: true,
        }
    }

    fn rule(verdict: Verdict) -> String {
        match verdict {
            Verdict::Allow => "allowed".into(),
            Verdict::Refuse { why: Some(why), .. } => format!("{} {}", why.destination, why.rule),
            Verdict::Refuse { errno, why: None } => format!("errno {errno}"),
        }
    }

    #[test]
    fn each_destination_is_judged_by_what_the_kernel_does_with_it() {
        let ip = |s: &str| s.parse().unwrap();
        let cases: Vec<(&'static str, Destination, &str)> = vec![
            (
                "connect",
                Destination::Inet(ip("127.0.0.1"), 8080),
                "allowed",
            ),
            (
                "connect",
                Destination::Inet(ip("127.0.0.1"), 8081),
                "127.0.0.1:8081 not in BLACKBOX_ALLOWED_TARGETS",
            ),
            (
                "sendto",
                Destination::Inet(ip("169.254.78.1"), 53),
                "allowed",
            ),
            ("connect", Destination::Unspecified, "allowed"),
            (
                "sendto",
                Destination::Unspecified,
                "family 0 AF_UNSPEC in a send (the kernel sends to the address in it)",
            ),
            ("sendmsg", Destination::Peer, "allowed"),
            ("connect", Destination::Netlink, "allowed"),
            (
                "connect",
                Destination::Unix(b"/run/nscd/socket".to_vec()),
                "allowed",
            ),
            (
                "connect",
                Destination::Unix(b"/tmp/agent.sock".to_vec()),
                "unix:/tmp/agent.sock a socket on the function's own host (AF_UNIX)",
            ),
            (
                "connect",
                Destination::Unix(b"\0abstract".to_vec()),
                "unix:\\0abstract a socket on the function's own host (AF_UNIX)",
            ),
            (
                "connect",
                Destination::Family(17),
                "family 17 not an IP address family",
            ),
            ("connect", Destination::Malformed, "errno 22"),
        ];
        let mut judge = judge();
        for (call, destination, want) in cases {
            let shown = format!("{call} {destination:?}");
            assert_eq!(rule(judge.destination(call, destination)), want, "{shown}");
        }
    }

    #[test]
    fn only_the_first_refusal_of_the_sentinel_goes_unlogged() {
        let mut judge = judge();
        judge.sentinel_seen = false;
        let sentinel = || Destination::Inet("127.0.0.1".parse().unwrap(), 9115);
        assert_eq!(
            judge.destination("connect", sentinel()),
            Verdict::Refuse {
                errno: libc::EACCES,
                why: None
            }
        );
        assert_eq!(
            rule(judge.destination("connect", sentinel())),
            "127.0.0.1:9115 blackbox_exporter's own listener"
        );
    }
}
