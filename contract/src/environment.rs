//! The one way every settings reader (the extension's, the address rules', the handler's
//! and push mode's) reads the function's environment, so that a variable means the same
//! to each: empty is unset, a flag reads alike, a secret is never printed, and every
//! error names its variable.

use crate::SettingsError;

type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;
type ReadFile<'a> = Box<dyn Fn(&str) -> std::io::Result<String> + 'a>;

/// The environment and the files it may name; injected, so that tests drive every branch.
pub struct Environment<'a> {
    lookup: Lookup<'a>,
    read_file: ReadFile<'a>,
}

impl Environment<'static> {
    /// The process's own environment and file system.
    pub fn process() -> Self {
        Self::new(
            |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
            |path| std::fs::read_to_string(path),
        )
    }
}

impl<'a> Environment<'a> {
    pub fn new(
        lookup: impl Fn(&str) -> Option<String> + 'a,
        read_file: impl Fn(&str) -> std::io::Result<String> + 'a,
    ) -> Self {
        Self {
            lookup: Box::new(lookup),
            read_file: Box::new(read_file),
        }
    }

    /// `vars` as the whole environment and `files` as the whole file system.
    pub fn from_pairs(vars: &[(&str, &str)], files: &[(&str, &str)]) -> Environment<'static> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::new(
            move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            move |path| {
                files
                    .iter()
                    .find(|(k, _)| k == path)
                    .map(|(_, text)| text.clone())
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "No such file or directory",
                        )
                    })
            },
        )
    }

    /// The value as it is set, spaces and all.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The value without the spaces around it, unless it is unset or blank: Lambda's
    /// console cannot unset a variable once added, only empty it.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A true/false variable: unset or empty is false; `true`/`1`/`yes` and
    /// `false`/`0`/`no` in any case; anything else is an error naming the variable.
    pub fn flag(&self, var: &'static str) -> Result<bool, SettingsError> {
        match self
            .raw(var)
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

    /// A file a setting names; a setting that cannot be read says so as its own error.
    pub fn read_file(&self, path: &str) -> std::io::Result<String> {
        (self.read_file)(path)
    }

    /// A secret given in `value_var` or in the file `file_var` names (not both), trimmed
    /// and checked against its kind; `None` when neither is set.
    pub fn secret(
        &self,
        kind: SecretKind,
        value_var: &'static str,
        file_var: &'static str,
    ) -> Result<Option<Secret>, SettingsError> {
        match (self.non_empty(value_var), self.non_empty(file_var)) {
            (Some(_), Some(_)) => Err(SettingsError::new(
                file_var,
                format!("set either {value_var} or {file_var}, not both"),
            )),
            (Some(secret), None) => kind.check(&secret, value_var).map(Some),
            (None, Some(path)) => {
                let text = self.read_file(&path).map_err(|e| {
                    SettingsError::new(file_var, format!("cannot read {path}: {e}"))
                })?;
                kind.check(text.trim(), file_var).map(Some)
            }
            (None, None) => Ok(None),
        }
    }
}

/// What a secret setting holds, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// Sent as it is in a header (`Authorization: Bearer …`): printable ASCII, no spaces.
    Token,
    /// Sent base64-encoded (basic auth): anything but control characters.
    Password,
}

impl SecretKind {
    fn check(self, secret: &str, var: &'static str) -> Result<Secret, SettingsError> {
        match self {
            SecretKind::Token if secret.is_empty() => Err(SettingsError::new(var, "the token is empty")),
            SecretKind::Token if !secret.bytes().all(|b| b.is_ascii_graphic()) => Err(SettingsError::new(
                var,
                "the token must be printable ASCII without spaces (it travels in an HTTP header)",
            )),
            SecretKind::Password if secret.is_empty() => Err(SettingsError::new(var, "the password is empty")),
            SecretKind::Password if secret.chars().any(char::is_control) => Err(SettingsError::new(
                var,
                "the password has a control character (a line break inside it?)",
            )),
            _ => Ok(Secret::new(secret.to_string())),
        }
    }
}

/// A bearer token, a password or an AWS secret key: its `Debug` never shows it, so it
/// cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that sends it (a header it is put in).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time that depends on the lengths only, not on where they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut difference = expected.len() ^ presented.len();
        for (i, byte) in expected.iter().enumerate() {
            difference |= (byte ^ presented.get(i).copied().unwrap_or(0)) as usize;
        }
        difference == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN_VAR: &str = "TEST_TOKEN";
    const TOKEN_FILE_VAR: &str = "TEST_TOKEN_FILE";

    fn environment(vars: &[(&str, &str)]) -> Environment<'static> {
        Environment::from_pairs(
            vars,
            &[("/run/token", "s3cret-token\n"), ("/run/empty", "\n")],
        )
    }

    #[test]
    fn blank_is_unset() {
        let env = environment(&[("A", " "), ("B", " b ")]);
        assert_eq!(env.non_empty("A"), None);
        assert_eq!(env.raw("A").as_deref(), Some(" "));
        assert_eq!(env.non_empty("B").as_deref(), Some("b"));
        assert_eq!(env.non_empty("C"), None);
    }

    #[test]
    fn flags_read_alike_everywhere() {
        for (value, want) in [
            ("", false),
            ("No", false),
            ("0", false),
            ("TRUE", true),
            (" yes ", true),
            ("1", true),
        ] {
            assert_eq!(
                environment(&[("F", value)]).flag("F"),
                Ok(want),
                "{value:?}"
            );
        }
        assert_eq!(environment(&[]).flag("F"), Ok(false));
        assert_eq!(
            environment(&[("F", "maybe")])
                .flag("F")
                .unwrap_err()
                .to_string(),
            "F: \"maybe\" is not true or false"
        );
    }

    #[test]
    fn a_secret_comes_from_the_variable_or_the_file_and_never_prints() {
        let secret =
            |vars: &[(&str, &str)], kind| environment(vars).secret(kind, TOKEN_VAR, TOKEN_FILE_VAR);
        let direct = secret(&[(TOKEN_VAR, " abc ")], SecretKind::Token)
            .unwrap()
            .unwrap();
        assert!(direct.matches(b"abc"));
        let from_file = secret(&[(TOKEN_FILE_VAR, "/run/token")], SecretKind::Token)
            .unwrap()
            .unwrap();
        assert!(from_file.matches(b"s3cret-token"));
        for wrong in [&b"s3cret-toke"[..], b"s3cret-token2", b""] {
            assert!(!from_file.matches(wrong));
        }
        assert_eq!(from_file.expose(), "s3cret-token");
        assert_eq!(format!("{from_file:?}"), "Secret(<redacted>)");
        assert_eq!(secret(&[], SecretKind::Token), Ok(None));
    }

    type Case<'a> = (&'a [(&'a str, &'a str)], SecretKind, &'a str);

    #[test]
    fn invalid_secrets_name_the_variable() {
        let cases: &[Case] = &[
            (
                &[(TOKEN_VAR, "a"), (TOKEN_FILE_VAR, "/run/token")],
                SecretKind::Token,
                "TEST_TOKEN_FILE: set either TEST_TOKEN or TEST_TOKEN_FILE, not both",
            ),
            (
                &[(TOKEN_FILE_VAR, "/run/missing")],
                SecretKind::Token,
                "TEST_TOKEN_FILE: cannot read /run/missing: No such file or directory",
            ),
            (
                &[(TOKEN_FILE_VAR, "/run/empty")],
                SecretKind::Token,
                "TEST_TOKEN_FILE: the token is empty",
            ),
            (
                &[(TOKEN_VAR, "two words")],
                SecretKind::Token,
                "TEST_TOKEN: the token must be printable ASCII without spaces (it travels in an HTTP header)",
            ),
            (
                &[(TOKEN_FILE_VAR, "/run/empty")],
                SecretKind::Password,
                "TEST_TOKEN_FILE: the password is empty",
            ),
            (
                &[(TOKEN_VAR, "line\u{7}break")],
                SecretKind::Password,
                "TEST_TOKEN: the password has a control character (a line break inside it?)",
            ),
        ];
        for (vars, kind, want) in cases {
            let error = environment(vars)
                .secret(*kind, TOKEN_VAR, TOKEN_FILE_VAR)
                .unwrap_err();
            assert_eq!(error.to_string(), *want, "{vars:?}");
        }
        let two_words = environment(&[(TOKEN_VAR, "two words")])
            .secret(SecretKind::Password, TOKEN_VAR, TOKEN_FILE_VAR)
            .unwrap()
            .unwrap();
        assert_eq!(two_words.expose(), "two words");
    }
}
