//! Arbitrary strings as probe targets, allow-list entries and query strings:
//! `parse_target` → `TargetPolicy::check` / `check_resolved`, `AllowEntry::parse`,
//! `parse_inet_aton`, `gate::query_params`. Nothing may panic, and:
//! - a target that parses to an address in 127.0.0.0/8 or ::1 (or 0.0.0.0/8, ::) is
//!   refused by the default policy, and so is `localhost`;
//! - the Runtime API and blackbox's own listener are refused even when the allow list
//!   names 127.0.0.1;
//! - whatever a host name passed, its resolving to loopback is refused;
//! - a target prints (in the 403 reason) as something that parses back to itself;
//! - where glibc's inet_aton reads a host as an IPv4 address, `parse_target` does not
//!   read the same host as another address (with FUZZ_STRICT_ATON=1: as anything else);
//! - `gate::query_params` reads a query as Go's `url.ParseQuery` (blackbox) does.
#![no_main]

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use lambda_blackbox_handler::gate;
use lambda_blackbox_handler::target_policy::{
    parse_inet_aton, parse_target, AllowEntry, Host, TargetHost, TargetPolicy,
};
use libfuzzer_sys::fuzz_target;

const RUNTIME_API: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 9001);
const BLACKBOX: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 9115);

fn always_denied() -> Vec<(IpAddr, u16, &'static str)> {
    vec![
        (
            IpAddr::V4(BLACKBOX.0),
            BLACKBOX.1,
            "blackbox_exporter's own listener",
        ),
        (
            IpAddr::V4(RUNTIME_API.0),
            RUNTIME_API.1,
            "the Lambda Runtime API",
        ),
    ]
}

static DEFAULT: LazyLock<TargetPolicy> =
    LazyLock::new(|| TargetPolicy::new(None, false, always_denied()));
static DENY_PRIVATE: LazyLock<TargetPolicy> =
    LazyLock::new(|| TargetPolicy::new(None, true, always_denied()));
static LISTED: LazyLock<TargetPolicy> = LazyLock::new(|| {
    let entries = "127.0.0.1,::1,localhost,example.com,*.example.org:443,10.0.0.0/8,[fd00::]/8:53"
        .split(',')
        .map(|e| AllowEntry::parse(e).expect("a valid entry"))
        .collect();
    TargetPolicy::new(Some(entries), false, always_denied())
});
static STRICT_ATON: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("FUZZ_STRICT_ATON").is_some_and(|v| v == "1"));

fn loopback_or_unspecified(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified(),
    }
}

extern "C" {
    /// glibc's, as getaddrinfo uses it for a numeric host (not in the libc crate).
    fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
}

/// What glibc makes of `host`, or `None`. Only asked about hosts it reads to the end
/// (it stops at white space and ignores what follows).
fn glibc_inet_aton(host: &str) -> Option<Ipv4Addr> {
    if host.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b) {
        return None;
    }
    let c = CString::new(host).ok()?;
    let mut addr = libc::in_addr { s_addr: 0 };
    // SAFETY: `c` is NUL-terminated and `addr` is a valid out pointer.
    let ok = unsafe { inet_aton(c.as_ptr(), &mut addr) };
    (ok != 0).then(|| Ipv4Addr::from(u32::from_be(addr.s_addr)))
}

/// Go's `url.ParseQuery`, which blackbox reads `target`, `module` and `debug` with:
/// pairs split on `&`; a pair holding `;`, or with an escape that is not `%` and two
/// hex digits, dropped; `+` a space; bytes kept as they are (invalid UTF-8 too).
fn go_parse_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn unhex(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        }
    }
    fn unescape(s: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'%' => {
                    let hex = s.get(i + 1..i + 3)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    out.push(unhex(hex[0]) << 4 | unhex(hex[1]));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Some(out)
    }
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(key.as_bytes())?, unescape(value.as_bytes())?))
        })
        .collect()
}

fn check_target(text: &str, target: &TargetHost) {
    // The default policy.
    let default = DEFAULT.check(target);
    let deny_private = DENY_PRIVATE.check(target);
    let listed = LISTED.check(target);
    match &target.host {
        Host::Ip(ip) => {
            if loopback_or_unspecified(*ip) {
                assert!(default.is_err(), "{text:?} → {target}: admitted by default");
                assert!(deny_private.is_err(), "{text:?} → {target}: admitted");
            }
            if ip.is_loopback() && target.port.is_none_or(|p| p == 9001 || p == 9115) {
                assert!(listed.is_err(), "{text:?} → {target}: admitted by the list");
            }
            // An address is judged as written: nothing left to resolve.
            assert!(matches!(default, Ok(None) | Err(_)), "{text:?}");
        }
        Host::Name(name) => {
            if name == "localhost" || name.ends_with(".localhost") {
                assert!(default.is_err(), "{text:?} → {target}: admitted by default");
            }
            if let Ok(Some(resolved_name)) = &default {
                assert_eq!(resolved_name, name, "{text:?}");
            }
        }
    }
    if deny_private.is_ok() {
        assert!(
            default.is_ok(),
            "{text:?}: deny-private is looser than default"
        );
    }

    // Whatever passed as written: resolving to loopback is refused by the default
    // policy, and to the Runtime API's or blackbox's address whatever the list says.
    let loopbacks = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::new(127, 3, 2, 1)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    ];
    for ip in loopbacks {
        assert!(
            DEFAULT.check_resolved(target, &[ip]).is_err(),
            "{text:?} → {target} resolving to {ip}: admitted by default"
        );
        if target.port.is_none_or(|p| p == 9001 || p == 9115) {
            assert!(
                LISTED.check_resolved(target, &[ip]).is_err(),
                "{text:?} → {target} resolving to {ip}: admitted by the list"
            );
        }
    }
    let _ = DEFAULT.check_resolved(target, &[IpAddr::V4(Ipv4Addr::new(93, 184, 215, 14))]);

    // The 403 reason names the target as judged; that text parses back to it.
    let shown = target.to_string();
    assert_eq!(
        parse_target(&shown).as_ref(),
        Ok(target),
        "{text:?} → {shown:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(target) = parse_target(text) {
        check_target(text, &target);
    }

    // inet_aton forms: the host as glibc reads it must not come out as another address.
    let host = text.trim().to_ascii_lowercase();
    let ours = parse_inet_aton(&host);
    if let Some(theirs) = glibc_inet_aton(&host) {
        match parse_target(&host) {
            Ok(TargetHost {
                host: Host::Ip(ip), ..
            }) => assert_eq!(ip, IpAddr::V4(theirs), "{host:?}"),
            other if *STRICT_ATON => {
                panic!("{host:?}: glibc reads {theirs}, parse_target {other:?}, parse_inet_aton {ours:?}")
            }
            _ => {}
        }
    }

    // Allow-list entries: no panic, whatever they hold.
    let _ = AllowEntry::parse(text);

    // The gate must read the query as blackbox (Go's net/url) does, or it judges one
    // target while blackbox probes another.
    let ours = gate::query_params(text);
    let go: Vec<(String, String)> = go_parse_query(text)
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        ours, go,
        "{text:?}: the gate and Go read different parameters"
    );
    for (key, value) in ours {
        if key == "target" {
            if let Ok(target) = parse_target(&value) {
                check_target(&value, &target);
            }
        }
    }
});
