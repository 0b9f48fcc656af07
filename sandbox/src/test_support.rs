//! Small helpers for tests and tools that drive the sandbox: a temporary directory that
//! cleans up after itself and a free loopback port.

use std::path::{Path, PathBuf};

/// A directory under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "lambda-blackbox-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Wherever a path is taken, so that the directory stays owned (and alive) here.
impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port free now, for a listener that a child binds later.
///
/// Not one the kernel picks for port 0: those come from the ephemeral range, the same range
/// every outgoing connection's source port comes from, so a probe or a pooled client could
/// take it before the child binds it, and the child (blackbox) fails with "bind: address
/// already in use". Ports below that range are taken only by listeners that name them; none
/// is handed out twice in one process, and another process starts its search elsewhere.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let fresh = |port: u16, given: &[u16]| {
        !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    };
    if let Some((low, high)) = outside_ephemeral_range() {
        let span = u32::from(high - low);
        let start = std::process::id().wrapping_mul(2_654_435_761)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
        for i in 0..span {
            let port = low + (start.wrapping_add(i) % span) as u16;
            if fresh(port, &given) {
                given.push(port);
                return port;
            }
        }
    }
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Ports no outgoing connection is given: from 20000 up to the kernel's ephemeral range
/// (32768 by default), else above it; `None` when it leaves no room for either.
fn outside_ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_else(|_| "32768 60999".into());
    let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    let (low, high) = (bounds.next()??, bounds.next()??);
    if low > 21_000 {
        Some((20_000, low))
    } else if high < 64_000 {
        Some((high + 1, u16::MAX))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable_distinct_and_outside_the_ephemeral_range() {
        let (low, high) = outside_ephemeral_range().unwrap_or((1, u16::MAX));
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "none twice");
        for port in ports {
            assert!((low..high).contains(&port), "{port} outside {low}..{high}");
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("still free");
        }
    }
}
