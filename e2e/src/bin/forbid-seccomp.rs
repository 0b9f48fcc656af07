//! `forbid-seccomp PROGRAM [ARG...]`: runs PROGRAM where seccomp(2) fails with EPERM, as on
//! a kernel or sandbox that refuses it, so the tests see the connect guard's fallback.

use std::os::unix::process::CommandExt;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

fn statement(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: forbid-seccomp PROGRAM [ARG...]");
        std::process::exit(2);
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    let filter = [
        statement(load, 0, 0, 4),
        statement(jeq, 0, 3, AUDIT_ARCH),
        statement(load, 0, 0, 0),
        statement(jeq, 0, 1, libc::SYS_seccomp as u32),
        statement(ret, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        statement(ret, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let program_filter = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prctl with a filter that lives until the call returns.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program_filter,
            ) != 0
        {
            eprintln!("forbid-seccomp: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
    }
    let error = std::process::Command::new(program).args(args).exec();
    eprintln!("forbid-seccomp: {error}");
    std::process::exit(1);
}
