//! The targets file (`TARGET [MODULE]` a line) that the multi-region Prometheus config and
//! push mode both read, so that one file serves both modes.

/// One line of the targets file: `TARGET [MODULE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub target: String,
    pub module: Option<String>,
}

/// A module name as blackbox's configuration names it.
fn is_module_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The targets file: one `TARGET [MODULE]` a line; blank lines and `#` comments skipped.
pub fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let target = words.next().unwrap_or_default().to_string();
        let module = words.next().map(str::to_string);
        if words.next().is_some() {
            return Err(format!(
                "line {}: expected TARGET [MODULE], got {line:?}",
                n + 1
            ));
        }
        if let Some(m) = &module {
            if !is_module_name(m) {
                return Err(format!("line {}: {m:?} is not a module name", n + 1));
            }
        }
        out.push(Target { target, module });
    }
    if out.is_empty() {
        return Err("no targets".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_file_lines() {
        let t = parse_targets("# sites\nhttps://example.com\n\nexample.com:443 tls  # expiry\n")
            .unwrap();
        assert_eq!(
            t,
            vec![
                Target {
                    target: "https://example.com".into(),
                    module: None
                },
                Target {
                    target: "example.com:443".into(),
                    module: Some("tls".into())
                },
            ]
        );
        assert!(parse_targets("a b c\n").unwrap_err().contains("line 1"));
        assert!(parse_targets("# nothing\n")
            .unwrap_err()
            .contains("no targets"));
        assert!(parse_targets("x mod{ule}\n")
            .unwrap_err()
            .contains("not a module name"));
    }
}
