//! The seccomp program blackbox starts under: it hands every `connect` and every send
//! that names an address to the extension (user notification).

/// `AUDIT_ARCH_*` of the architecture this binary is built for: a system call made
/// under another ABI (i386's `int 0x80` on x86_64) ends the process.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// x86_64's x32 ABI numbers its system calls from here, under the same AUDIT_ARCH.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Where `struct seccomp_data` keeps each field (little-endian on both architectures:
/// the low half of an argument comes first).
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
fn arg_low(n: u32) -> u32 {
    16 + 8 * n
}
fn arg_high(n: u32) -> u32 {
    20 + 8 * n
}

/// A loaded-ready program; built before the fork, read by the child.
#[derive(Debug, Clone)]
pub struct Program(Vec<libc::sock_filter>);

impl Program {
    /// `struct sock_fprog` pointing into the program, for seccomp(2), which only reads it.
    pub fn fprog(&self) -> libc::sock_fprog {
        libc::sock_fprog {
            len: self.0.len() as u16,
            filter: self.0.as_ptr().cast_mut(),
        }
    }

    #[cfg(test)]
    pub(crate) fn instructions(&self) -> &[libc::sock_filter] {
        &self.0
    }
}

/// Where a jump goes: the next instruction or a named return.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum To {
    Next,
    Ret(Action),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Allow,
    Notify,
    Errno(i32),
    KillProcess,
}

impl Action {
    fn value(self) -> u32 {
        match self {
            Action::Allow => libc::SECCOMP_RET_ALLOW,
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
            Action::Errno(errno) => {
                libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
            }
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        }
    }
}

enum Step {
    Load(u32),
    /// `if A == k` (or `A >= k`) jump to `then`, else to `otherwise`.
    Jump {
        ge: bool,
        k: u32,
        then: To,
        otherwise: To,
    },
}

/// Lays the steps out and appends one return per action used, resolving jumps.
fn assemble(steps: &[Step]) -> Program {
    let mut actions: Vec<Action> = Vec::new();
    let mut note = |to: To| {
        if let To::Ret(action) = to {
            if !actions.contains(&action) {
                actions.push(action);
            }
        }
    };
    for step in steps {
        if let Step::Jump {
            then, otherwise, ..
        } = step
        {
            note(*then);
            note(*otherwise);
        }
    }
    let body = steps.len();
    let offset = |at: usize, to: To| -> u8 {
        let target = match to {
            To::Next => at + 1,
            To::Ret(action) => body + actions.iter().position(|a| *a == action).unwrap_or(0),
        };
        (target - at - 1) as u8
    };
    let mut out = Vec::with_capacity(body + actions.len());
    for (at, step) in steps.iter().enumerate() {
        out.push(match step {
            Step::Load(offset) => libc::sock_filter {
                code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
                jt: 0,
                jf: 0,
                k: *offset,
            },
            Step::Jump {
                ge,
                k,
                then,
                otherwise,
            } => libc::sock_filter {
                code: (libc::BPF_JMP
                    | if *ge { libc::BPF_JGE } else { libc::BPF_JEQ }
                    | libc::BPF_K) as u16,
                jt: offset(at, *then),
                jf: offset(at, *otherwise),
                k: *k,
            },
        });
    }
    out.extend(actions.iter().map(|a| ret(*a)));
    Program(out)
}

fn ret(action: Action) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: action.value(),
    }
}

fn eq(k: u32, then: To, otherwise: To) -> Step {
    Step::Jump {
        ge: false,
        k,
        then,
        otherwise,
    }
}

fn nr(call: libc::c_long) -> u32 {
    call as u32
}

/// The guard: `connect`, `sendmmsg`, `sendto` with an address and `sendmsg` go to the
/// extension; `io_uring_setup` is refused (its operations would connect unseen).
pub fn guard_program() -> Program {
    use Step::*;
    let refused = To::Ret(Action::Errno(libc::EACCES));
    let notify = To::Ret(Action::Notify);
    let allow = To::Ret(Action::Allow);
    assemble(&[
        Load(ARCH_OFFSET),
        eq(AUDIT_ARCH, To::Next, To::Ret(Action::KillProcess)),
        Load(NR_OFFSET),
        Jump {
            ge: true,
            k: X32_SYSCALL_BIT,
            then: To::Ret(Action::Errno(libc::ENOSYS)),
            otherwise: To::Next,
        },
        eq(nr(libc::SYS_connect), notify, To::Next),
        eq(nr(libc::SYS_sendmmsg), notify, To::Next),
        eq(nr(libc::SYS_sendmsg), notify, To::Next),
        eq(nr(libc::SYS_io_uring_setup), refused, To::Next),
        // sendto(fd, buf, len, flags, dest_addr, addrlen): no dest_addr, no address.
        eq(nr(libc::SYS_sendto), To::Next, allow),
        Load(arg_low(4)),
        eq(0, To::Next, notify),
        Load(arg_high(4)),
        eq(0, allow, notify),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a program over one `seccomp_data` as the kernel's interpreter would.
    fn run(program: &Program, arch: u32, nr: libc::c_long, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, arg) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        let code = program.instructions();
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let insn = code[pc];
            match insn.code as u32 {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let k = insn.k as usize;
                    a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                    pc += 1;
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => {
                    pc += 1 + if a == insn.k { insn.jt } else { insn.jf } as usize;
                }
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => {
                    pc += 1 + if a >= insn.k { insn.jt } else { insn.jf } as usize;
                }
                c if c == libc::BPF_RET | libc::BPF_K => return insn.k,
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_guard_program_sends_each_call_where_it_belongs() {
        let program = guard_program();
        let errno = |e: i32| Action::Errno(e).value();
        let notify = Action::Notify.value();
        let allow = Action::Allow.value();
        let cases: &[(u32, libc::c_long, [u64; 6], u32)] = &[
            (
                AUDIT_ARCH,
                libc::SYS_connect,
                [3, 0x1000, 16, 0, 0, 0],
                notify,
            ),
            (
                AUDIT_ARCH,
                libc::SYS_sendmmsg,
                [3, 0x1000, 2, 0, 0, 0],
                notify,
            ),
            (AUDIT_ARCH, libc::SYS_sendto, [3, 0x1000, 9, 0, 0, 0], allow),
            (
                AUDIT_ARCH,
                libc::SYS_sendto,
                [3, 0x1000, 9, 0, 0x2000, 16],
                notify,
            ),
            (
                AUDIT_ARCH,
                libc::SYS_sendto,
                [3, 0x1000, 9, 0, 0x7fff_0000_0000, 16],
                notify,
            ),
            (
                AUDIT_ARCH,
                libc::SYS_sendmsg,
                [3, 0x1000, 0, 0, 0, 0],
                notify,
            ),
            (
                AUDIT_ARCH,
                libc::SYS_sendmsg,
                [1023, 0x1000, 0, 0, 0, 0],
                notify,
            ),
            (
                AUDIT_ARCH,
                libc::SYS_io_uring_setup,
                [8, 0x1000, 0, 0, 0, 0],
                errno(libc::EACCES),
            ),
            (AUDIT_ARCH, libc::SYS_write, [1, 0x1000, 9, 0, 0, 0], allow),
            (
                AUDIT_ARCH,
                libc::SYS_connect | X32_SYSCALL_BIT as libc::c_long,
                [0; 6],
                errno(libc::ENOSYS),
            ),
            (
                0x4000_0003,
                libc::SYS_write,
                [0; 6],
                Action::KillProcess.value(),
            ),
        ];
        for (arch, call, args, want) in cases {
            assert_eq!(
                run(&program, *arch, *call, *args),
                *want,
                "nr {call} args {args:?}"
            );
        }
    }
}
