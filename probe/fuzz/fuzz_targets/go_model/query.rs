//! Go's `url.ParseQuery` and `url.QueryEscape`, as blackbox reads `target`, `module`
//! and `debug`.

use super::*;

/// Go's `url.ParseQuery`, which blackbox reads `target`, `module` and `debug` with:
/// pairs split on `&`; a pair holding `;`, or with an escape that is not `%` and two
/// hex digits, dropped; `+` a space; bytes kept as they are (invalid UTF-8 too).
pub fn go_parse_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((
                query_unescape(key.as_bytes())?,
                query_unescape(value.as_bytes())?,
            ))
        })
        .collect()
}

/// `url.Values.Get`: the first value.
pub fn go_get<'a>(params: &'a [(Vec<u8>, Vec<u8>)], key: &[u8]) -> Option<&'a [u8]> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Every byte but the unreserved ones escaped: Go's QueryUnescape gives `s` back.
pub fn query_escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
