//! The resolver: what a lookup of a host does before any dial.

use super::*;

/// How `chooseProtocol` (or a later dial's own lookup) resolves a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// An address literal: no DNS. More than one when readers disagree (a union).
    Ips {
        ips: Vec<IpAddr>,
        cgo_only: bool,
    },
    /// A name sent to the resolver. `cgo_only`: the pure Go resolver refuses it
    /// (`isDomainName`), only getaddrinfo would ask DNS ([`cgo_resolvable`]).
    Name {
        name: Bytes,
        cgo_only: bool,
    },
    Fails,
}

/// A host trimmed of trailing dots and lower-cased: the name the resolver asks for.
pub fn normalise(name: &[u8]) -> Bytes {
    let mut n = name.to_ascii_lowercase();
    while n.last() == Some(&b'.') {
        n.pop();
    }
    n
}

/// `Resolver.lookupIPAddr`: empty fails; netip literals first (Go 1.22+; older Go took
/// an empty zone too); then the C library's numeric forms (inet_aton, inet_pton), which
/// apply where Go hands the lookup to getaddrinfo; else a name.
pub fn lookup(host: &[u8]) -> Lookup {
    if host.is_empty() || host.contains(&0) {
        return Lookup::Fails;
    }
    let mut ips = Vec::new();
    let mut cgo_only = true;
    if let Some(ip) = netip_parse(host, true) {
        ips.push(ip);
        cgo_only = false;
    }
    let normalised = normalise(host);
    for form in [host, &normalised[..]] {
        if let Some(v4) = glibc_inet_aton(form) {
            ips.push(IpAddr::V4(v4));
        }
        if let Some(v6) = glibc_inet_pton6(form) {
            ips.push(IpAddr::V6(v6));
        }
        if let Some(ip) = netip_parse(form, true) {
            ips.push(ip);
        }
    }
    ips.dedup();
    if !ips.is_empty() {
        return Lookup::Ips { ips, cgo_only };
    }
    // "." passes isDomainName, but the root has no address records.
    if normalised.is_empty() {
        return Lookup::Fails;
    }
    if is_domain_name(host) && top_label_can_exist(host) {
        return Lookup::Name {
            name: host.to_vec(),
            cgo_only: false,
        };
    }
    if cgo_resolvable(host) {
        return Lookup::Name {
            name: host.to_vec(),
            cgo_only: true,
        };
    }
    Lookup::Fails
}

/// A name the pure Go resolver refuses that the C library's resolver could still
/// resolve. getaddrinfo sends any name to DNS, but glibc's nss_dns takes an answer only
/// for a name that `res_hnok` / `__res_binary_hnok` accept (dns-host.c): labels of
/// letters, digits, '-' and '_', the first not starting with '-' (glibc 2.34+; older
/// versions also refused a label starting or ending with '-', which this keeps).
/// Go's `isDomainName` refuses more: all-numeric names, labels starting with '-' after
/// the first, labels ending with '-'. The top-level label must be one that can exist
/// (letters, digits, '-', with a letter): no public DNS answers under any other.
pub fn cgo_resolvable(name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let labels: Vec<&[u8]> = name.split(|&b| b == b'.').collect();
    let Some(top) = labels.last() else {
        return false;
    };
    name.len() <= 253
        && !starts(name, b"-")
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        && top.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && top_label_can_exist(name)
}

/// A name of several labels resolves only under a top-level label that can exist, and
/// every top-level domain starts with a letter (IANA: letters, or "xn--"): "0xae.0x" or
/// "1.2.3.4.5" reach no DNS server that answers (inet_aton forms end that way). One
/// label is tried under the resolv.conf search domains and /etc/hosts: kept.
pub fn top_label_can_exist(name: &[u8]) -> bool {
    let name = name.strip_suffix(b".").unwrap_or(name);
    match rfind(name, b'.') {
        None => true,
        Some(dot) => name.get(dot + 1).is_some_and(u8::is_ascii_alphabetic),
    }
}
