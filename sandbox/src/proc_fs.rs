//! Finding, signalling and measuring the processes of the sandbox by walking `/proc`: the
//! file system's view, which `environment/processes.rs` (spawning, freezing, the exits of
//! the environment's processes) reads through.
//!
//! Every process the sandbox spawns (extensions, runtime) is made a session leader
//! (`setsid` before `exec`), so its descendants share its session id even when they
//! create their own process groups (blackbox_exporter does). A process belongs to the
//! sandbox when its session id is one of the spawned pids, or when one of its
//! ancestors (ppid chain) does — the second rule catches descendants that called
//! `setsid` themselves.

use std::collections::{HashMap, HashSet};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// One process as `/proc/PID/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub comm: String,
    /// State character (`R`, `S`, `T` stopped, `Z` zombie, ...).
    pub state: char,
    /// Start time in clock ticks after boot (field 22), to tell a reused pid apart.
    pub start_time: u64,
}

/// Parses the content of `/proc/PID/stat`. `comm` may contain spaces and parentheses,
/// so it is taken between the first `(` and the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcessInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgid = rest.next()?.parse().ok()?;
    let sid = rest.next()?.parse().ok()?;
    // `rest` is at field 7 (tty_nr); field 22 is starttime.
    let start_time = rest.nth(15)?.parse().ok()?;
    Some(ProcessInfo {
        pid,
        ppid,
        pgid,
        sid,
        comm,
        state,
        start_time,
    })
}

pub fn read_process(pid: i32) -> Option<ProcessInfo> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Every process visible in `/proc`.
pub fn all_processes() -> Vec<ProcessInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter_map(read_process)
        .collect()
}

/// Every process below `root` by parent links, parents before children (`root` itself
/// not included).
pub fn descendants(root: i32) -> Vec<ProcessInfo> {
    let all = all_processes();
    let mut found: Vec<ProcessInfo> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for child in all.iter().filter(|p| p.ppid == parent) {
            frontier.push(child.pid);
            found.push(child.clone());
        }
    }
    found
}

/// The processes that belong to the trees rooted at `roots` (see module doc).
///
/// `known` holds (pid, start time) of the processes found by earlier calls and is
/// updated: a process seen once stays in the tree after its parent died (it is then
/// re-parented to us, the subreaper) even if it left the roots' sessions.
pub fn tree(roots: &[i32], known: &mut HashMap<i32, u64>) -> Vec<ProcessInfo> {
    let me = std::process::id() as i32;
    let roots: HashSet<i32> = roots
        .iter()
        .copied()
        .filter(|p| *p > 1 && *p != me)
        .collect();
    if roots.is_empty() && known.is_empty() {
        return Vec::new();
    }
    let all = all_processes();
    let by_pid: HashMap<i32, &ProcessInfo> = all.iter().map(|p| (p.pid, p)).collect();
    let mut inside: HashSet<i32> = all
        .iter()
        .filter(|p| {
            p.pid != me
                && (roots.contains(&p.pid)
                    || roots.contains(&p.sid)
                    || known.get(&p.pid) == Some(&p.start_time))
        })
        .map(|p| p.pid)
        .collect();
    // Close over the ppid chains.
    loop {
        let before = inside.len();
        for p in &all {
            if p.pid != me && !inside.contains(&p.pid) && inside.contains(&p.ppid) {
                inside.insert(p.pid);
            }
        }
        if inside.len() == before {
            break;
        }
    }
    let mut out: Vec<ProcessInfo> = inside
        .iter()
        .filter_map(|pid| by_pid.get(pid).map(|p| (*p).clone()))
        .collect();
    out.sort_by_key(|p| p.pid);
    *known = out.iter().map(|p| (p.pid, p.start_time)).collect();
    out
}

/// Sends `sig` to each pid, returns the pids that were signalled.
pub fn signal_each(pids: &[i32], sig: Signal) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|pid| kill(Pid::from_raw(*pid), sig).is_ok())
        .collect()
}

/// `VmHWM` (peak resident set size) of a process, in KiB.
pub fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&text, "VmHWM:")
}

pub fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.get(key.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reaps zombies that are our own children but not owned by tokio (`owned`): with
/// `PR_SET_CHILD_SUBREAPER`, orphaned descendants of the sandbox processes are
/// re-parented to us and must be waited for, or they stay zombies.
pub fn reap_orphans(tree: &[ProcessInfo], owned: &HashSet<i32>) {
    let me = std::process::id() as i32;
    for p in tree {
        if p.state == 'Z' && p.ppid == me && !owned.contains(&p.pid) {
            let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let p = parse_stat(
            "1234 (we ird) (x)) T 1 1234 1234 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 100 5",
        )
        .expect("parse");
        assert_eq!(p.start_time, 98765);
        assert_eq!(p.pid, 1234);
        assert_eq!(p.comm, "we ird) (x)");
        assert_eq!(p.state, 'T');
        assert_eq!((p.ppid, p.pgid, p.sid), (1, 1234, 1234));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn parses_status() {
        let t = "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\n";
        assert_eq!(parse_status_kib(t, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_kib(t, "VmRSS:"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let me = read_process(std::process::id() as i32).expect("self");
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(me.start_time > 0);
    }
}
