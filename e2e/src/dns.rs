//! A DNS server of the test's own, for a namespace whose only resolver it is: it answers
//! what a hostile zone would (more addresses than a C library keeps, answers that change
//! between lookups, records for other names), over UDP (truncated past 512 bytes to a
//! client without EDNS, as a server must) and TCP, with TTL 0 so that nobody caches.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// One record of an answer: the owner name (None: the question's) and its data.
#[derive(Debug, Clone)]
pub enum Record {
    Address(Option<String>, IpAddr),
    Cname(Option<String>, String),
}

/// The zone: the records for (lower-case name, type), given how many times that
/// name and type was asked before.
pub type Zone = Arc<dyn Fn(&str, u16, usize) -> Vec<Record> + Send + Sync>;

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;

pub struct DnsServer {
    asked: Arc<Mutex<HashMap<(String, u16), usize>>>,
}

impl DnsServer {
    pub async fn start(addr: SocketAddr, zone: Zone) -> DnsServer {
        let asked = Arc::new(Mutex::new(HashMap::new()));
        let udp = UdpSocket::bind(addr)
            .await
            .expect("binding the test's DNS server (udp)");
        let tcp = TcpListener::bind(addr)
            .await
            .expect("binding the test's DNS server (tcp)");
        let (zone_udp, asked_udp, asked_tcp) = (zone.clone(), asked.clone(), asked.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((len, peer)) = udp.recv_from(&mut buf).await {
                if let Some(answer) = answer(&buf[..len], &zone_udp, &asked_udp, true) {
                    let _ = udp.send_to(&answer, peer).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let (zone, asked) = (zone.clone(), asked_tcp.clone());
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 2];
                        if stream.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                        if stream.read_exact(&mut query).await.is_err() {
                            return;
                        }
                        let Some(answer) = answer(&query, &zone, &asked, false) else {
                            return;
                        };
                        let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                        framed.extend(answer);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        DnsServer { asked }
    }

    /// How many times `name` was asked for `qtype`.
    pub fn asked(&self, name: &str, qtype: u16) -> usize {
        let asked = self.asked.lock().unwrap();
        asked.get(&(name.to_string(), qtype)).copied().unwrap_or(0)
    }
}

/// The question's name (lower case), type, and where the question ends.
fn question(query: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    Some((labels.join("."), qtype, at + 4))
}

fn encode_name(name: &str, out: &mut Vec<u8>) {
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
}

fn answer(
    query: &[u8],
    zone: &Zone,
    asked: &Mutex<HashMap<(String, u16), usize>>,
    udp: bool,
) -> Option<Vec<u8>> {
    let (name, qtype, end) = question(query)?;
    let additional = u16::from_be_bytes([*query.get(10)?, *query.get(11)?]);
    let times = {
        let mut asked = asked.lock().unwrap();
        let count = asked.entry((name.clone(), qtype)).or_insert(0);
        *count += 1;
        *count - 1
    };
    let records = zone(&name, qtype, times);
    let mut out = Vec::with_capacity(512);
    out.extend(&query[0..2]);
    out.extend([0x81, 0x80]); // a response, recursion desired and available, NOERROR
    out.extend(1u16.to_be_bytes());
    out.extend((records.len() as u16).to_be_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(&query[12..end]);
    for record in &records {
        let (owner, rtype, data) = match record {
            Record::Address(owner, IpAddr::V4(ip)) => (owner, TYPE_A, ip.octets().to_vec()),
            Record::Address(owner, IpAddr::V6(ip)) => (owner, TYPE_AAAA, ip.octets().to_vec()),
            Record::Cname(owner, target) => {
                let mut data = Vec::new();
                encode_name(target, &mut data);
                (owner, 5, data)
            }
        };
        match owner {
            None => out.extend([0xc0, 12]),
            Some(owner) => encode_name(owner, &mut out),
        }
        out.extend(rtype.to_be_bytes());
        out.extend(1u16.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        out.extend((data.len() as u16).to_be_bytes());
        out.extend(data);
    }
    // A client without EDNS takes 512 bytes over UDP: more is truncated (TC), and it asks
    // again over TCP.
    if udp && additional == 0 && out.len() > 512 {
        out.truncate(end);
        out[2] |= 0x02;
        out[6] = 0;
        out[7] = 0;
    }
    Some(out)
}
