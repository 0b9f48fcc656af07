//! Listeners on loopback that record every connection and datagram, the way an attacker
//! checks whether a probe got through: on a port of the test's own, on both loopback
//! families, and on the ports a prober dials when the target names none (80 for http,
//! 443 for https and grpc, 53 for dns), which needs root.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

/// One connection or datagram: which listener, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub listener: SocketAddr,
    pub transport: &'static str,
    pub peer: SocketAddr,
}

pub struct Recorder {
    /// The test's own port, on 127.0.0.1 and [::1], TCP and UDP.
    pub port: u16,
    contacts: Arc<Mutex<Vec<Contact>>>,
}

/// The ports probers fall back to when a target names none.
pub const DEFAULT_PORTS: [u16; 3] = [53, 80, 443];

impl Recorder {
    pub async fn start() -> Recorder {
        let contacts = Arc::new(Mutex::new(Vec::new()));
        let port = loop {
            let port = crate::free_port();
            let v4 = SocketAddr::from(([127, 0, 0, 1], port));
            let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
            let (Ok(v4_udp), Ok(v6_udp)) = (UdpSocket::bind(v4).await, UdpSocket::bind(v6).await)
            else {
                continue;
            };
            serve_udp(v4_udp, contacts.clone());
            serve_udp(v6_udp, contacts.clone());
            serve_tcp(listen(v4), contacts.clone());
            serve_tcp(listen(v6), contacts.clone());
            break port;
        };
        for default in DEFAULT_PORTS {
            let addr = SocketAddr::from(([127, 0, 0, 1], default));
            serve_tcp(listen(addr), contacts.clone());
            let udp = UdpSocket::bind(addr).await.unwrap_or_else(|e| {
                panic!("binding udp {addr} for the recorder: {e} (the test runs as root, with the port free)")
            });
            serve_udp(udp, contacts.clone());
        }
        Recorder { port, contacts }
    }

    /// TCP and UDP listeners on one free port of 127.0.0.1. The port is taken by binding, not
    /// chosen first and bound later: another test running meanwhile cannot take it between.
    pub async fn on_loopback() -> Recorder {
        let contacts = Arc::new(Mutex::new(Vec::new()));
        let port = loop {
            let udp = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .expect("a UDP socket on 127.0.0.1");
            let addr = udp.local_addr().expect("a bound socket");
            let Ok(tcp) = try_listen(addr) else {
                continue;
            };
            serve_udp(udp, contacts.clone());
            serve_tcp(tcp, contacts.clone());
            break addr.port();
        };
        Recorder { port, contacts }
    }

    /// TCP and UDP listeners on each of `addrs` (addresses a test's namespace holds).
    pub async fn on(addrs: &[SocketAddr]) -> Recorder {
        let contacts = Arc::new(Mutex::new(Vec::new()));
        for addr in addrs {
            serve_tcp(listen(*addr), contacts.clone());
            let udp = UdpSocket::bind(addr)
                .await
                .unwrap_or_else(|e| panic!("binding udp {addr} for the recorder: {e}"));
            serve_udp(udp, contacts.clone());
        }
        Recorder {
            port: addrs.first().map_or(0, SocketAddr::port),
            contacts,
        }
    }

    pub fn contacts(&self) -> Vec<Contact> {
        self.contacts.lock().unwrap().clone()
    }

    /// Waits up to `within` for at least one contact; what was recorded by then.
    pub async fn wait_for_contact(&self, within: Duration) -> Vec<Contact> {
        let deadline = tokio::time::Instant::now() + within;
        while self.contacts().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.contacts()
    }

    pub fn clear(&self) {
        self.contacts.lock().unwrap().clear();
    }
}

fn listen(addr: SocketAddr) -> TcpListener {
    try_listen(addr).unwrap_or_else(|e| {
        panic!(
            "binding tcp {addr} for the recorder: {e} (the test runs as root, with the port free)"
        )
    })
}

fn try_listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

/// Records the connection, then answers anything with a small HTTP 200 and closes.
fn serve_tcp(listener: TcpListener, contacts: Arc<Mutex<Vec<Contact>>>) {
    let local = listener.local_addr().expect("a bound listener");
    tokio::spawn(async move {
        while let Ok((mut stream, peer)) = listener.accept().await {
            contacts.lock().unwrap().push(Contact {
                listener: local,
                transport: "tcp",
                peer,
            });
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
}

fn serve_udp(socket: UdpSocket, contacts: Arc<Mutex<Vec<Contact>>>) {
    let local = socket.local_addr().expect("a bound socket");
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((_, peer)) = socket.recv_from(&mut buf).await {
            contacts.lock().unwrap().push(Contact {
                listener: local,
                transport: "udp",
                peer,
            });
        }
    });
}
