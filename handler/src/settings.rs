//! The handler's settings, read once from `BLACKBOX_*` variables and validated in one
//! place; later code trusts a [`HandlerSettings`] value.

use std::path::Path;

pub use lambda_blackbox_contract::SettingsError;
use lambda_blackbox_contract::{
    blackbox_config_path, ListenAddress, CONFIG_VAR, LISTEN_ADDRESS_VAR, TASK_CONFIG,
};

use crate::modules::BlackboxModules;
use crate::target_policy::TargetPolicy;
use lambda_blackbox_address_rules::{AddressRules, RESOLV_CONF};
pub use lambda_blackbox_address_rules::{ALLOWED_TARGETS_VAR, DENY_PRIVATE_VAR};

pub const AUTH_TOKEN_VAR: &str = "BLACKBOX_AUTH_TOKEN";
pub const AUTH_TOKEN_FILE_VAR: &str = "BLACKBOX_AUTH_TOKEN_FILE";
pub const TRUST_IAM_VAR: &str = "BLACKBOX_AUTH_TRUST_IAM";
pub const EXPOSE_METRICS_VAR: &str = "BLACKBOX_EXPOSE_METRICS";
pub const ALLOW_DEBUG_VAR: &str = "BLACKBOX_ALLOW_DEBUG";

fn invalid(var: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::new(var, reason)
}

/// A bearer token; its `Debug` never shows it, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that sends it (a header it is put in).
    pub fn secret(&self) -> &str {
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

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct HandlerSettings {
    /// Where blackbox listens, validated as the extension validates it.
    pub listen_address: ListenAddress,
    pub auth_token: Option<Token>,
    pub trust_iam: bool,
    pub expose_metrics: bool,
    pub allow_debug: bool,
    pub policy: TargetPolicy,
    /// The prober of each module in blackbox's configuration, so that a target is read
    /// as that prober reads it.
    pub modules: BlackboxModules,
}

impl HandlerSettings {
    /// The process environment; `layer_root` is where the layer is unpacked (`/opt`),
    /// for blackbox's default configuration.
    pub fn from_env(layer_root: &Path) -> Result<Self, SettingsError> {
        Self::from_lookup(
            |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
            |path| std::fs::read_to_string(path),
            layer_root,
        )
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        read_file: impl Fn(&str) -> std::io::Result<String>,
        layer_root: &Path,
    ) -> Result<Self, SettingsError> {
        let listen_address = ListenAddress::from_setting(lookup(LISTEN_ADDRESS_VAR).as_deref())?;
        let auth_token = secret_setting(
            &lookup,
            &read_file,
            SecretKind::Token,
            AUTH_TOKEN_VAR,
            AUTH_TOKEN_FILE_VAR,
        )?;
        let trust_iam = flag(&lookup, TRUST_IAM_VAR)?;
        let expose_metrics = flag(&lookup, EXPOSE_METRICS_VAR)?;
        let allow_debug = flag(&lookup, ALLOW_DEBUG_VAR)?;
        // No resolv.conf is Go's default nameservers, as it is for blackbox.
        let resolv_conf = read_file(RESOLV_CONF).unwrap_or_default();
        let policy = TargetPolicy::new(AddressRules::from_lookup(&lookup, &resolv_conf)?);
        let modules = read_modules(&lookup, &read_file, layer_root)?;

        Ok(Self {
            listen_address,
            auth_token,
            trust_iam,
            expose_metrics,
            allow_debug,
            policy,
            modules,
        })
    }
}

/// blackbox's modules, from the file the extension starts it with. A file that cannot
/// be read or is no blackbox config fails Init here as it does for blackbox.
fn read_modules(
    lookup: &impl Fn(&str) -> Option<String>,
    read_file: &impl Fn(&str) -> std::io::Result<String>,
    layer_root: &Path,
) -> Result<BlackboxModules, SettingsError> {
    let task_config_exists =
        !matches!(read_file(TASK_CONFIG), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    let path = blackbox_config_path(
        lookup(CONFIG_VAR).as_deref(),
        layer_root,
        task_config_exists,
    );
    let path = path.display().to_string();
    let text =
        read_file(&path).map_err(|e| invalid(CONFIG_VAR, format!("cannot read {path}: {e}")))?;
    BlackboxModules::from_yaml(&text)
        .map_err(|e| invalid(CONFIG_VAR, format!("{path} is not a blackbox config: {e}")))
}

/// What a secret setting holds, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretKind {
    /// Sent as it is in a header (`Authorization: Bearer …`): printable ASCII, no spaces.
    Token,
    /// Sent base64-encoded (basic auth): anything but control characters.
    Password,
}

/// A secret given in `value_var` or in the file `file_var` names (not both), trimmed and
/// checked against its kind; `None` when neither is set.
pub(crate) fn secret_setting(
    lookup: &impl Fn(&str) -> Option<String>,
    read_file: &impl Fn(&str) -> std::io::Result<String>,
    kind: SecretKind,
    value_var: &'static str,
    file_var: &'static str,
) -> Result<Option<Token>, SettingsError> {
    let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    match (non_empty(value_var), non_empty(file_var)) {
        (Some(_), Some(_)) => Err(invalid(
            file_var,
            format!("set either {value_var} or {file_var}, not both"),
        )),
        (Some(token), None) => validate_secret(token.trim(), kind, value_var).map(Some),
        (None, Some(path)) => {
            let path = path.trim();
            let text = read_file(path)
                .map_err(|e| invalid(file_var, format!("cannot read {path}: {e}")))?;
            validate_secret(text.trim(), kind, file_var).map(Some)
        }
        (None, None) => Ok(None),
    }
}

fn validate_secret(
    secret: &str,
    kind: SecretKind,
    var: &'static str,
) -> Result<Token, SettingsError> {
    match kind {
        SecretKind::Token if secret.is_empty() => Err(invalid(var, "the token is empty")),
        SecretKind::Token if !secret.bytes().all(|b| b.is_ascii_graphic()) => Err(invalid(
            var,
            "the token must be printable ASCII without spaces (it travels in an HTTP header)",
        )),
        SecretKind::Password if secret.is_empty() => Err(invalid(var, "the password is empty")),
        SecretKind::Password if secret.chars().any(char::is_control) => Err(invalid(
            var,
            "the password has a control character (a line break inside it?)",
        )),
        _ => Ok(Token(secret.to_string())),
    }
}

use lambda_blackbox_contract::flag_setting as flag;

/// Settings for tests: `vars` as the environment, the layer's blackbox.yml at /opt,
/// two token files and a file that is not YAML.
#[cfg(test)]
pub(crate) fn test_settings(vars: &[(&str, &str)]) -> Result<HandlerSettings, SettingsError> {
    let vars: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    HandlerSettings::from_lookup(
        |k| vars.get(k).cloned(),
        |path| match path {
            "/run/token" => Ok("s3cret-token\n".to_string()),
            "/run/empty" => Ok("\n".to_string()),
            "/opt/blackbox/blackbox.yml" => {
                Ok(include_str!("../../layer/blackbox/blackbox.yml").to_string())
            }
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "No such file or directory",
            )),
        },
        Path::new("/opt"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<HandlerSettings, SettingsError> {
        test_settings(vars)
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen_address.as_str(), "127.0.0.1:9115");
        assert!(s.auth_token.is_none());
        assert!(!s.trust_iam && !s.expose_metrics && !s.allow_debug);
    }

    #[test]
    fn the_token_comes_from_the_variable_or_the_file_and_never_prints() {
        let direct = settings(&[(AUTH_TOKEN_VAR, " abc ")]).unwrap();
        assert!(direct.auth_token.as_ref().unwrap().matches(b"abc"));
        let from_file = settings(&[(AUTH_TOKEN_FILE_VAR, "/run/token")]).unwrap();
        let token = from_file.auth_token.clone().unwrap();
        assert!(token.matches(b"s3cret-token"));
        assert!(!token.matches(b"s3cret-toke"));
        assert!(!token.matches(b"s3cret-token2"));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert!(!format!("{from_file:?}").contains("s3cret"));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[(AUTH_TOKEN_VAR, "a"), (AUTH_TOKEN_FILE_VAR, "/run/token")],
                "BLACKBOX_AUTH_TOKEN_FILE: set either BLACKBOX_AUTH_TOKEN or BLACKBOX_AUTH_TOKEN_FILE, not both",
            ),
            (
                &[(AUTH_TOKEN_FILE_VAR, "/run/missing")],
                "BLACKBOX_AUTH_TOKEN_FILE: cannot read /run/missing: No such file or directory",
            ),
            (
                &[(AUTH_TOKEN_FILE_VAR, "/run/empty")],
                "BLACKBOX_AUTH_TOKEN_FILE: the token is empty",
            ),
            (
                &[(AUTH_TOKEN_VAR, "two words")],
                "BLACKBOX_AUTH_TOKEN: the token must be printable ASCII without spaces (it travels in an HTTP header)",
            ),
            (
                &[(TRUST_IAM_VAR, "maybe")],
                "BLACKBOX_AUTH_TRUST_IAM: \"maybe\" is not true or false",
            ),
            (
                &[(EXPOSE_METRICS_VAR, "2")],
                "BLACKBOX_EXPOSE_METRICS: \"2\" is not true or false",
            ),
            (
                &[(ALLOWED_TARGETS_VAR, "example.com,,b.example")],
                "BLACKBOX_ALLOWED_TARGETS: an entry is empty",
            ),
            (
                &[(ALLOWED_TARGETS_VAR, "10.0.0.0/33")],
                "BLACKBOX_ALLOWED_TARGETS: \"10.0.0.0/33\" is not a valid CIDR network",
            ),
            (
                &[(ALLOWED_TARGETS_VAR, "example.com:http")],
                "BLACKBOX_ALLOWED_TARGETS: \"example.com:http\" has a port that is not a number from 0 to 65535",
            ),
            (
                &[(ALLOWED_TARGETS_VAR, "exa mple.com")],
                "BLACKBOX_ALLOWED_TARGETS: \"exa mple.com\" is not a host name, IP address or CIDR network",
            ),
            (
                &[(LISTEN_ADDRESS_VAR, "0.0.0.0:9115")],
                "BLACKBOX_LISTEN_ADDRESS: \"0.0.0.0:9115\" is not a loopback address: blackbox must listen on 127.0.0.0/8, [::1] or localhost",
            ),
            (
                &[(CONFIG_VAR, "/run/missing.yml")],
                "BLACKBOX_CONFIG: cannot read /run/missing.yml: No such file or directory",
            ),
            (
                &[(CONFIG_VAR, "/run/token")],
                "BLACKBOX_CONFIG: /run/token is not a blackbox config: it has no `modules` map",
            ),
            (
                &[(ALLOWED_TARGETS_VAR, "http://example.com")],
                "BLACKBOX_ALLOWED_TARGETS: \"http://example.com\" has a port that is not a number from 0 to 65535",
            ),
        ];
        for (vars, want) in cases {
            assert_eq!(settings(vars).unwrap_err().to_string(), *want, "{vars:?}");
        }
    }
}
