//! The bootstrap's settings, read once from `BLACKBOX_*` variables and validated in one
//! place: who may call (the token, IAM), what is served (`/metrics`, `debug`), and what a
//! probe needs ([`ProbeSettings`]). Later code trusts a [`HandlerSettings`] value.

use std::path::Path;

use lambda_blackbox_contract::{Environment, Secret, SecretKind, SettingsError};
use lambda_blackbox_probe::ProbeSettings;

pub const AUTH_TOKEN_VAR: &str = "BLACKBOX_AUTH_TOKEN";
pub const AUTH_TOKEN_FILE_VAR: &str = "BLACKBOX_AUTH_TOKEN_FILE";
pub const TRUST_IAM_VAR: &str = "BLACKBOX_AUTH_TRUST_IAM";
pub const EXPOSE_METRICS_VAR: &str = "BLACKBOX_EXPOSE_METRICS";
pub const ALLOW_DEBUG_VAR: &str = "BLACKBOX_ALLOW_DEBUG";

#[derive(Debug, Clone)]
pub struct HandlerSettings {
    pub probe: ProbeSettings,
    pub auth_token: Option<Secret>,
    pub trust_iam: bool,
    pub expose_metrics: bool,
    pub allow_debug: bool,
}

impl HandlerSettings {
    /// The process environment; `layer_root` is where the layer is unpacked (`/opt`),
    /// for blackbox's default configuration.
    pub fn from_env(layer_root: &Path) -> Result<Self, SettingsError> {
        Self::from_environment(&Environment::process(), layer_root)
    }

    pub fn from_environment(env: &Environment, layer_root: &Path) -> Result<Self, SettingsError> {
        let probe = ProbeSettings::from_environment(env, layer_root)?;
        let auth_token = env.secret(SecretKind::Token, AUTH_TOKEN_VAR, AUTH_TOKEN_FILE_VAR)?;
        Ok(Self {
            probe,
            auth_token,
            trust_iam: env.flag(TRUST_IAM_VAR)?,
            expose_metrics: env.flag(EXPOSE_METRICS_VAR)?,
            allow_debug: env.flag(ALLOW_DEBUG_VAR)?,
        })
    }
}

#[cfg(test)]
pub(crate) fn test_settings(vars: &[(&str, &str)]) -> Result<HandlerSettings, SettingsError> {
    let files = [
        ("/run/token", "s3cret-token\n"),
        ("/run/empty", "\n"),
        (
            "/opt/blackbox/blackbox.yml",
            include_str!("../../layer/blackbox/blackbox.yml"),
        ),
    ];
    HandlerSettings::from_environment(&Environment::from_pairs(vars, &files), Path::new("/opt"))
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
        assert_eq!(s.probe.listen_address.as_str(), "127.0.0.1:9115");
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
        assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
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
                &[("BLACKBOX_ALLOWED_TARGETS", "10.0.0.0/33")],
                "BLACKBOX_ALLOWED_TARGETS: \"10.0.0.0/33\" is not a valid CIDR network",
            ),
        ];
        for (vars, want) in cases {
            assert_eq!(settings(vars).unwrap_err().to_string(), *want, "{vars:?}");
        }
    }
}
