//! A host as the resolver will see it: every spelling of an address (inet_aton's forms,
//! IPv4 carried in IPv6, zone identifiers) brought to one canonical form.

use std::net::{IpAddr, Ipv4Addr};

use super::{Host, TargetError};

/// A host as the resolver will see it.
pub fn normalise_host(host: &str) -> Result<Host, TargetError> {
    // A zone identifier (fe80::1%eth0) does not change which IPv6 address is meant; in
    // any other host a '%' is refused below.
    let host = match host.split_once('%') {
        Some((address, _zone)) if address.contains(':') => address,
        _ => host,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(TargetError::Empty);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Host::Ip(canonical_ip(ip)));
    }
    if let Some(v4) = parse_inet_aton(&host) {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    // What is left must be a host name; anything else (a second scheme, an encoded
    // URL inside the host) is refused rather than guessed at.
    if !host
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(TargetError::Malformed);
    }
    Ok(Host::Name(host))
}

pub use lambda_blackbox_address_rules::canonical_ip;

/// IPv4 in every form the C library's inet_aton takes: 1 to 4 parts, each decimal,
/// octal (leading 0) or hex (0x), the last part filling the remaining bytes
/// (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`). blackbox resolves through the
/// system resolver, which reads these as addresses.
pub fn parse_inet_aton(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(parse_aton_part(part)?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|v| *v > 0xff) {
        return None;
    }
    let room = 8 * (4 - leading.len() as u32);
    if room < 32 && *last >= 1u64 << room {
        return None;
    }
    if room == 32 && *last > u32::MAX as u64 {
        return None;
    }
    let mut value: u32 = 0;
    for (i, v) in leading.iter().enumerate() {
        value |= (*v as u32) << (24 - 8 * i as u32);
    }
    value |= *last as u32;
    Some(Ipv4Addr::from(value))
}

fn parse_aton_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        // "0x" alone is 0 to inet_aton.
        return (radix == 16).then_some(0);
    }
    // Only digits of the radix: from_str_radix would also take a sign.
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Leading zeros do not count towards the length, as to glibc.
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}
