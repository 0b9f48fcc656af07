//! Small helpers: clocks, ids, dates (no chrono dependency).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// (year, month 1-12, day 1-31) from days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: u64,
    mi: u64,
    s: u64,
}

fn parts(epoch_ms: u64) -> Parts {
    let secs = epoch_ms / 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    Parts {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: (sod / 60) % 60,
        s: sod % 60,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `12/Mar/2020:19:03:58 +0000`, the `requestContext.time` format of payload 2.0.
pub fn clf_time(epoch_ms: u64) -> String {
    let p = parts(epoch_ms);
    let mon = MONTHS
        .get((p.mo as usize).saturating_sub(1))
        .unwrap_or(&"Jan");
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        p.d, mon, p.y, p.h, p.mi, p.s
    )
}

/// `2024-01-02T03:04:05.678Z`
pub fn iso_time(epoch_ms: u64) -> String {
    let p = parts(epoch_ms);
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y,
        p.mo,
        p.d,
        p.h,
        p.mi,
        p.s,
        epoch_ms % 1000
    )
}

/// `2024/01/02`
pub fn slash_date(epoch_ms: u64) -> String {
    let p = parts(epoch_ms);
    format!("{}/{:02}/{:02}", p.y, p.mo, p.d)
}

/// A random lowercase hex string of `n` characters.
pub fn hex_id(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(n);
    s
}

/// An X-Ray trace header like Lambda puts in `Lambda-Runtime-Trace-Id`.
pub fn trace_id() -> String {
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        epoch_ms() / 1000,
        hex_id(24),
        hex_id(16)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        // 2020-03-12T19:03:58.390Z
        assert_eq!(clf_time(1_584_039_838_390), "12/Mar/2020:19:03:58 +0000");
        assert_eq!(iso_time(1_584_039_838_390), "2020-03-12T19:03:58.390Z");
        assert_eq!(slash_date(0), "1970/01/01");
        assert_eq!(clf_time(951_782_400_000), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn ids() {
        assert_eq!(hex_id(40).len(), 40);
        assert!(trace_id().starts_with("Root=1-"));
    }
}
