//! The child's messages to the extension on the hand-over socket: where its listener is,
//! the self-test passed, or the step that failed with its errno.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::child::{Step, FAILED, LISTENER, PASSED};
use super::Unavailable;

pub enum Message {
    /// The listener's descriptor number in the child, and the child's pid.
    Listener {
        fd: RawFd,
        pid: libc::pid_t,
    },
    Failed(Unavailable),
    Passed,
}

/// One message of the hand-over socket; the socket's end is the child's death.
pub fn receive(handoff: &OwnedFd) -> Result<Message, Unavailable> {
    let mut bytes = [0u8; 16];
    let read = loop {
        // SAFETY: a read into a local buffer.
        let read =
            unsafe { libc::read(handoff.as_raw_fd(), bytes.as_mut_ptr().cast(), bytes.len()) };
        if read < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        break read;
    };
    if read < 0 {
        return Err(Unavailable::last_os_error("reading the hand-over socket"));
    }
    if read == 0 {
        return Err(Unavailable::new(
            "blackbox's process ended before its guard was set up",
            None,
        ));
    }
    let word =
        |at: usize| i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    match bytes[0] {
        LISTENER if read == 9 => Ok(Message::Listener {
            fd: word(1),
            pid: word(5),
        }),
        PASSED => Ok(Message::Passed),
        FAILED if read >= 6 => {
            let what = Step::from_byte(bytes[1]).map_or("an unknown step", Step::describe);
            Ok(Message::Failed(Unavailable::new(what, Some(word(2)))))
        }
        _ => Err(Unavailable::new("the hand-over message is malformed", None)),
    }
}

/// A copy of descriptor `fd` of process `pid` (pidfd_open, pidfd_getfd: Linux 5.6), as a
/// parent that may read its child's memory may take it.
pub fn take_descriptor(pid: libc::pid_t, fd: RawFd) -> Result<OwnedFd, i32> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: plain system calls; each new descriptor is owned at once.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if pidfd < 0 {
            return Err(errno());
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd as RawFd);
        let copy = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0);
        if copy < 0 {
            return Err(errno());
        }
        Ok(OwnedFd::from_raw_fd(copy as RawFd))
    }
}
