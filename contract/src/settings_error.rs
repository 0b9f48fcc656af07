/// A setting that cannot be used: the variable and why, printed `VAR: reason`, which is
/// how an init error names the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct SettingsError {
    pub var: &'static str,
    pub reason: String,
}

impl SettingsError {
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// A true/false variable: unset or empty is false; `true`/`1`/`yes` and
/// `false`/`0`/`no` in any case; anything else is an error naming the variable.
pub fn flag_setting(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<bool, SettingsError> {
    match lookup(var)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(other) => Err(SettingsError::new(
            var,
            format!("{other:?} is not true or false"),
        )),
    }
}
