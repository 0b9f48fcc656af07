//! Reading blackbox_exporter's log lines: the `Listening on` line that says the socket
//! is bound, and error lines worth quoting when a start fails.
//!
//! blackbox has printed four shapes over its releases: go-kit logfmt (≤ 0.25), slog
//! logfmt (≥ 0.26), and the JSON form of each (`--log.format=json`).

const LISTENING_MSG: &str = "Listening on";

/// The address of a `Listening on` line, or `None` for any other line.
///
/// The message must be exactly `Listening on`: the systemd variant
/// (`Listening on systemd activated listeners …`) binds no port of ours.
pub fn listening_address(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
        if object.get("msg")?.as_str()? != LISTENING_MSG {
            return None;
        }
        return object.get("address")?.as_str().map(str::to_string);
    }
    let fields = logfmt_fields(line);
    let msg = fields.iter().find(|(k, _)| k == "msg")?;
    if msg.1 != LISTENING_MSG {
        return None;
    }
    fields
        .into_iter()
        .find(|(k, _)| k == "address")
        .map(|(_, v)| v)
}

/// Whether a line is logged at error level, in any of blackbox's shapes.
pub fn is_error_line(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with('{') {
        return serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
            .ok()
            .and_then(|o| {
                o.get("level")?
                    .as_str()
                    .map(|l| l.eq_ignore_ascii_case("error"))
            })
            .unwrap_or(false);
    }
    logfmt_fields(line)
        .iter()
        .any(|(k, v)| k == "level" && v.eq_ignore_ascii_case("error"))
}

/// Splits a logfmt line into key/value pairs; quoted values may hold spaces and `\"`.
fn logfmt_fields(line: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() && chars.peek().is_none() {
            return fields;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    value.push(c);
                }
            }
        } else if key.is_empty() {
            // A stray character that starts no key; skip it so the loop moves on.
            chars.next();
            continue;
        }
        fields.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listening_shape_gives_its_address() {
        let cases = [
            // go-kit logfmt, blackbox ≤ 0.25 (Debian's 0.23 prints this)
            (
                r#"ts=2026-11-26T10:06:12.443Z caller=tls_config.go:232 level=info msg="Listening on" address=127.0.0.1:9115"#,
                "127.0.0.1:9115",
            ),
            // slog logfmt, blackbox ≥ 0.26
            (
                r#"time=2025-01-20T10:00:00.000Z level=INFO source=tls_config.go:353 msg="Listening on" address=127.0.0.1:9115"#,
                "127.0.0.1:9115",
            ),
            (
                r#"time=2025-01-20T10:00:00.000Z level=INFO source=tls_config.go:353 msg="Listening on" address=[::]:9115"#,
                "[::]:9115",
            ),
            // go-kit JSON: keys sorted, address first
            (
                r#"{"address":"127.0.0.1:9115","caller":"tls_config.go:232","level":"info","msg":"Listening on","ts":"2026-11-26T10:06:12.443Z"}"#,
                "127.0.0.1:9115",
            ),
            // slog JSON: msg before address
            (
                r#"{"time":"2025-01-20T10:00:00Z","level":"INFO","source":"tls_config.go:353","msg":"Listening on","address":"127.0.0.1:9200"}"#,
                "127.0.0.1:9200",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(listening_address(line).as_deref(), Some(want), "{line}");
        }
    }

    #[test]
    fn other_lines_are_not_listening_lines() {
        let lines = [
            r#"ts=2026-11-26T10:06:12.443Z caller=tls_config.go:274 level=info msg="Listening on systemd activated listeners instead of port listeners.""#,
            r#"{"level":"info","msg":"Listening on systemd activated listeners instead of port listeners."}"#,
            r#"ts=2026-11-26T10:06:12.443Z caller=tls_config.go:235 level=info msg="TLS is disabled." http2=false address=127.0.0.1:9115"#,
            r#"ts=2026-11-26T10:06:12.443Z caller=main.go:91 level=info msg="Loaded config file""#,
            r#"ts=2026-11-26T10:06:12.443Z level=info msg=Listening address=127.0.0.1:9115"#,
            r#"level=info msg="Listening on""#,
            r#"{"msg":"Listening on"}"#,
            r#"{"msg":"Listening on","address":9115}"#,
            r#"{"msg":"Listening on", broken json"#,
            "Listening on 127.0.0.1:9115",
            "",
            "=",
            r#"msg="unterminated"#,
        ];
        for line in lines {
            assert_eq!(listening_address(line), None, "{line}");
        }
    }

    #[test]
    fn error_lines_are_recognised_in_every_shape() {
        assert!(is_error_line(
            r#"ts=2026-11-26T10:06:13.440Z caller=main.go:82 level=error msg="Error loading config" err="error parsing config file: yaml: line 5: did not find expected node content""#
        ));
        assert!(is_error_line(
            r#"time=2025-01-20T10:00:00Z level=ERROR source=main.go:100 msg="Error loading config" err="x""#
        ));
        assert!(is_error_line(
            r#"{"level":"error","msg":"Error loading config"}"#
        ));
        assert!(!is_error_line(
            r#"ts=2026-11-26T10:06:12.443Z level=info msg="level=error in a message""#
        ));
        assert!(!is_error_line("plain text error"));
    }
}
