//! `forbid-seccomp [--refuse CALL,CALL…] PROGRAM [ARG...]`: runs PROGRAM where the named
//! system calls (by default seccomp(2)) fail with EPERM, as on a kernel or in a sandbox
//! that refuses them, so the tests see what the connect guard does there. CALL is one of
//! seccomp, process_vm_readv, pidfd_getfd.

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

fn call_number(name: &str) -> Option<u32> {
    Some(match name {
        "seccomp" => libc::SYS_seccomp,
        "process_vm_readv" => libc::SYS_process_vm_readv,
        "pidfd_getfd" => libc::SYS_pidfd_getfd,
        _ => return None,
    } as u32)
}

fn fail(message: &str) -> ! {
    eprintln!("forbid-seccomp: {message}");
    std::process::exit(2);
}

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut refused = vec![libc::SYS_seccomp as u32];
    if args.first().is_some_and(|a| a == "--refuse") {
        let list = args
            .get(1)
            .and_then(|l| l.to_str())
            .unwrap_or_else(|| fail("--refuse needs a list"));
        refused = list
            .split(',')
            .map(|name| {
                call_number(name).unwrap_or_else(|| fail(&format!("unknown call {name:?}")))
            })
            .collect();
        args.drain(..2);
    }
    if args.is_empty() {
        fail("usage: forbid-seccomp [--refuse CALL,CALL…] PROGRAM [ARG...]");
    }
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    // arch; nr; one test a call, each jumping to the refusal after the allow.
    let n = refused.len() as u8;
    let mut filter = vec![statement(load, 0, 0, 4), statement(jeq, 1, 0, AUDIT_ARCH)];
    filter.push(statement(ret, 0, 0, libc::SECCOMP_RET_ALLOW));
    filter.push(statement(load, 0, 0, 0));
    for (i, nr) in refused.iter().enumerate() {
        filter.push(statement(jeq, n - i as u8, 0, *nr));
    }
    filter.push(statement(ret, 0, 0, libc::SECCOMP_RET_ALLOW));
    filter.push(statement(
        ret,
        0,
        0,
        libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
    ));
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: prctl with a filter that lives until the call returns.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program) != 0
        {
            fail(&std::io::Error::last_os_error().to_string());
        }
    }
    let error = std::process::Command::new(&args[0]).args(&args[1..]).exec();
    fail(&error.to_string());
}
