//! Where a trapped call sends: the socket address it names, read from the bytes the
//! caller passed, as the kernel reads them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest socket address read (`struct sockaddr_storage`).
pub const MAX_SOCKADDR: usize = 128;
/// `struct msghdr` on a 64-bit system, and `struct mmsghdr` around it.
pub const MSGHDR_SIZE: usize = 56;
pub const MMSGHDR_SIZE: usize = 64;
/// The kernel handles at most this many messages of one `sendmmsg`.
pub const MAX_MMSG: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// No address given: a send goes to the socket's peer, judged when it connected.
    Peer,
    Inet(IpAddr, u16),
    /// `AF_UNSPEC`: dissolves a connection when connecting; a UDP or raw send takes the
    /// IPv4 address in it all the same.
    Unspecified,
    /// A socket on this host (`AF_UNIX`), by path (an abstract name starts with a zero byte).
    Unix(Vec<u8>),
    /// The kernel (`AF_NETLINK`), never the network.
    Netlink,
    /// Any other family (packet sockets, vsock, …): refused.
    Family(u16),
    /// Shorter than its family needs: the kernel fails the call with EINVAL.
    Malformed,
}

/// The address in `bytes` (as many as the caller said it passed, at most
/// [`MAX_SOCKADDR`]).
pub fn parse_sockaddr(bytes: &[u8]) -> Destination {
    if bytes.len() < 2 {
        return Destination::Malformed;
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    match family as i32 {
        libc::AF_UNSPEC => Destination::Unspecified,
        libc::AF_UNIX => {
            let path = &bytes[2..];
            // A path ends at its first zero byte; an abstract name is all of it.
            let path = match path.first() {
                Some(0) => path,
                _ => path.split(|b| *b == 0).next().unwrap_or_default(),
            };
            Destination::Unix(path.to_vec())
        }
        libc::AF_NETLINK => Destination::Netlink,
        libc::AF_INET if bytes.len() >= 16 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Destination::Inet(IpAddr::V4(ip), port)
        }
        // SIN6_LEN_RFC2133: the scope id may be left out.
        libc::AF_INET6 if bytes.len() >= 24 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[8..24]);
            Destination::Inet(IpAddr::V6(Ipv6Addr::from(octets)), port)
        }
        libc::AF_INET | libc::AF_INET6 => Destination::Malformed,
        _ => Destination::Family(family),
    }
}

/// `msg_name` and `msg_namelen` (an `int`: its low 32 bits) of a `struct msghdr`.
pub fn msghdr_name(header: &[u8]) -> (u64, usize) {
    let pointer = u64::from_ne_bytes(header[0..8].try_into().unwrap_or_default());
    let length = u32::from_ne_bytes(header[8..12].try_into().unwrap_or_default());
    (pointer, length as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&ip);
        b
    }

    #[test]
    fn addresses_are_read_by_their_family() {
        let mut v6 = vec![0u8; 28];
        v6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&9115u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"::ffff:127.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
        let mut unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        unix.extend(b"/run/nscd/socket\0junk");
        let mut abstract_name = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        abstract_name.extend(b"\0name");
        let packet = (libc::AF_PACKET as u16).to_ne_bytes().to_vec();
        let cases: Vec<(Vec<u8>, Destination)> = vec![
            (
                v4([169, 254, 169, 254], 80),
                Destination::Inet("169.254.169.254".parse().unwrap(), 80),
            ),
            (
                v6.clone(),
                Destination::Inet("::ffff:127.0.0.1".parse().unwrap(), 9115),
            ),
            (
                v6[..24].to_vec(),
                Destination::Inet("::ffff:127.0.0.1".parse().unwrap(), 9115),
            ),
            (v6[..23].to_vec(), Destination::Malformed),
            (v4([127, 0, 0, 1], 1)[..15].to_vec(), Destination::Malformed),
            (vec![0, 0], Destination::Unspecified),
            (unix, Destination::Unix(b"/run/nscd/socket".to_vec())),
            (abstract_name, Destination::Unix(b"\0name".to_vec())),
            (packet, Destination::Family(libc::AF_PACKET as u16)),
            (vec![2], Destination::Malformed),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse_sockaddr(&bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn a_message_header_gives_its_name_pointer_and_length() {
        let mut header = [0u8; MSGHDR_SIZE];
        header[0..8].copy_from_slice(&0x7fff_1234_5678u64.to_ne_bytes());
        header[8..12].copy_from_slice(&16u32.to_ne_bytes());
        assert_eq!(msghdr_name(&header), (0x7fff_1234_5678, 16));
    }
}
