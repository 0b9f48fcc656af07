//! The child's messages to the extension on the hand-over socket: the listener, the
//! self-test passed, or the step that failed with its errno.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::child::{Step, FAILED, LISTENER, PASSED};
use super::Unavailable;

pub enum Message {
    Listener(OwnedFd),
    Failed(Unavailable),
    Passed,
}

/// One message of the hand-over socket; the socket's end is the child's death.
pub fn receive(handoff: &OwnedFd) -> Result<Message, Unavailable> {
    let mut bytes = [0u8; 8];
    let mut iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; the buffers outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let read = loop {
        // SAFETY: as above.
        let read = unsafe { libc::recvmsg(handoff.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
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
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(Unavailable::new(
            "the hand-over's control message was cut short",
            None,
        ));
    }
    match bytes[0] {
        LISTENER => {
            // SAFETY: the control buffer was filled by the kernel for this message.
            let fd = unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                if cmsg.is_null()
                    || (*cmsg).cmsg_level != libc::SOL_SOCKET
                    || (*cmsg).cmsg_type != libc::SCM_RIGHTS
                    || (*cmsg).cmsg_len as usize
                        != libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize
                {
                    return Err(Unavailable::new(
                        "the listener did not come with its message",
                        None,
                    ));
                }
                std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>())
            };
            // SAFETY: SCM_RIGHTS gave this process a new descriptor that nothing else owns.
            Ok(Message::Listener(unsafe { OwnedFd::from_raw_fd(fd) }))
        }
        PASSED => Ok(Message::Passed),
        FAILED if read >= 6 => {
            let errno = i32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
            let what = Step::from_byte(bytes[1]).map_or("an unknown step", Step::describe);
            Ok(Message::Failed(Unavailable::new(what, Some(errno))))
        }
        _ => Err(Unavailable::new("the hand-over message is malformed", None)),
    }
}
