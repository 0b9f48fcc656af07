//! What a probe needs from the function's environment: where blackbox listens, the target
//! policy and blackbox's modules, read once and validated in one place.

use std::path::Path;

use lambda_blackbox_address_rules::{AddressRules, RESOLV_CONF};
use lambda_blackbox_contract::{
    blackbox_config_path, Environment, ListenAddress, SettingsError, CONFIG_VAR,
    LISTEN_ADDRESS_VAR, TASK_CONFIG,
};

use crate::modules::BlackboxModules;
use crate::target_policy::TargetPolicy;

#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// Where blackbox listens, validated as the extension validates it.
    pub listen_address: ListenAddress,
    pub policy: TargetPolicy,
    /// The prober of each module in blackbox's configuration, so that a target is read
    /// as that prober reads it.
    pub modules: BlackboxModules,
}

impl ProbeSettings {
    /// `layer_root` is where the layer is unpacked (`/opt`), for blackbox's default
    /// configuration.
    pub fn from_environment(env: &Environment, layer_root: &Path) -> Result<Self, SettingsError> {
        let listen_address = ListenAddress::from_setting(env.raw(LISTEN_ADDRESS_VAR).as_deref())?;
        // No resolv.conf is Go's default nameservers, as it is for blackbox.
        let resolv_conf = env.read_file(RESOLV_CONF).unwrap_or_default();
        let policy = TargetPolicy::new(AddressRules::from_environment(env, &resolv_conf)?);
        let modules = read_modules(env, layer_root)?;
        Ok(Self {
            listen_address,
            policy,
            modules,
        })
    }
}

/// blackbox's modules, from the file the extension starts it with. A file that cannot
/// be read or is no blackbox config fails Init here as it does for blackbox.
fn read_modules(env: &Environment, layer_root: &Path) -> Result<BlackboxModules, SettingsError> {
    let task_config_exists = !matches!(
        env.read_file(TASK_CONFIG),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    let path = blackbox_config_path(
        env.raw(CONFIG_VAR).as_deref(),
        layer_root,
        task_config_exists,
    );
    let path = path.display().to_string();
    let text = env
        .read_file(&path)
        .map_err(|e| SettingsError::new(CONFIG_VAR, format!("cannot read {path}: {e}")))?;
    BlackboxModules::from_yaml(&text).map_err(|e| {
        SettingsError::new(CONFIG_VAR, format!("{path} is not a blackbox config: {e}"))
    })
}

/// Settings for tests: `vars` as the environment, the layer's blackbox.yml at /opt, and a
/// file that is not YAML (/run/token).
#[cfg(test)]
pub(crate) fn test_settings(vars: &[(&str, &str)]) -> Result<ProbeSettings, SettingsError> {
    let files = [
        (
            "/opt/blackbox/blackbox.yml",
            include_str!("../../layer/blackbox/blackbox.yml"),
        ),
        ("/run/token", "s3cret-token\n"),
    ];
    ProbeSettings::from_environment(&Environment::from_pairs(vars, &files), Path::new("/opt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_blackbox_address_rules::ALLOWED_TARGETS_VAR;

    fn settings(vars: &[(&str, &str)]) -> Result<ProbeSettings, SettingsError> {
        test_settings(vars)
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen_address.as_str(), "127.0.0.1:9115");
        assert!(s.modules.probers(Some("tcp_connect")).len() == 1);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
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
                &[(ALLOWED_TARGETS_VAR, "http://example.com")],
                "BLACKBOX_ALLOWED_TARGETS: \"http://example.com\" has a port that is not a number from 0 to 65535",
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
        ];
        for (vars, want) in cases {
            assert_eq!(settings(vars).unwrap_err().to_string(), *want, "{vars:?}");
        }
    }
}
