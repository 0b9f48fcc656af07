//! glibc, through FFI.

use super::*;

extern "C" {
    fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
    fn inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
}

/// glibc's `inet_aton` (it stops at white space).
pub fn glibc_inet_aton(host: &[u8]) -> Option<Ipv4Addr> {
    let c = CString::new(host).ok()?;
    let mut addr = libc::in_addr { s_addr: 0 };
    // SAFETY: `c` is NUL-terminated and `addr` is a valid out pointer.
    let ok = unsafe { inet_aton(c.as_ptr(), &mut addr) };
    (ok != 0).then(|| Ipv4Addr::from(u32::from_be(addr.s_addr)))
}

/// glibc's `inet_pton(AF_INET6)` on what precedes a scope ('%'), as getaddrinfo reads a
/// numeric IPv6 host.
pub fn glibc_inet_pton6(host: &[u8]) -> Option<Ipv6Addr> {
    let address = match find(host, b'%') {
        Some(i) => &host[..i],
        None => host,
    };
    let c = CString::new(address).ok()?;
    let mut out = [0u8; 16];
    // SAFETY: `c` is NUL-terminated and `out` has room for an in6_addr.
    let ok = unsafe { inet_pton(libc::AF_INET6, c.as_ptr(), out.as_mut_ptr().cast()) };
    (ok == 1).then(|| Ipv6Addr::from(out))
}
