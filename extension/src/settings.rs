//! Every setting the extension takes, read once from `BLACKBOX_*` variables and
//! validated in one place. Later code trusts a [`Settings`] value.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lambda_blackbox_address_rules::{AddressRules, RESOLV_CONF};

use lambda_blackbox_contract::{
    blackbox_config_path, Environment, ListenAddress, LISTEN_ADDRESS_VAR, TASK_CONFIG,
};
pub use lambda_blackbox_contract::{SettingsError, CONFIG_VAR};

use crate::guard::{GuardMode, CONNECT_GUARD_VAR};

pub const BINARY_VAR: &str = "BLACKBOX_EXPORTER_BIN";
pub const ARGS_VAR: &str = "BLACKBOX_ARGS";
pub const READY_TIMEOUT_VAR: &str = "BLACKBOX_READY_TIMEOUT_MS";

pub const DEFAULT_READY_TIMEOUT_MS: u64 = 5000;
/// Lambda ends Init after 10 s; the extension must report its own failure before that.
pub const MAX_READY_TIMEOUT_MS: u64 = 9500;

/// Flags the extension sets itself; passing them again through `BLACKBOX_ARGS` would
/// make blackbox listen or load somewhere the extension does not watch.
const OWNED_FLAGS: [(&str, &str); 2] = [
    ("--config.file", CONFIG_VAR),
    ("--web.listen-address", LISTEN_ADDRESS_VAR),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub binary: PathBuf,
    pub config: PathBuf,
    pub listen_address: ListenAddress,
    pub extra_args: Vec<String>,
    pub ready_timeout: Duration,
    pub connect_guard: GuardMode,
    /// What the connect guard lets blackbox reach: the handler's rules, read alike.
    pub rules: Arc<AddressRules>,
}

/// Where the layer is unpacked: the extension lives at `<root>/extensions/<name>`, so
/// the same binary finds its files under `/opt` on Lambda and in a local layer directory.
pub fn layer_root(extension_path: &Path) -> PathBuf {
    extension_path
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/opt"))
}

impl Settings {
    /// Reads the process environment. `layer_root` comes from [`layer_root`].
    pub fn from_env(layer_root: &Path) -> Result<Self, SettingsError> {
        Self::from_environment(
            &Environment::process(),
            layer_root,
            Path::new(TASK_CONFIG).is_file(),
            &std::fs::read_to_string(RESOLV_CONF).unwrap_or_default(),
        )
    }

    /// The validation itself, with the environment, the file system check and
    /// resolv.conf's text passed in so that tests can drive every branch.
    pub fn from_environment(
        env: &Environment,
        layer_root: &Path,
        task_config_exists: bool,
        resolv_conf: &str,
    ) -> Result<Self, SettingsError> {
        let binary = env
            .non_empty(BINARY_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| layer_root.join("bin/blackbox_exporter"));

        let config = blackbox_config_path(
            env.non_empty(CONFIG_VAR).as_deref(),
            layer_root,
            task_config_exists,
        );

        let listen_address = ListenAddress::from_setting(env.raw(LISTEN_ADDRESS_VAR).as_deref())?;

        let extra_args = match env.raw(ARGS_VAR) {
            Some(args) => parse_args(&args)?,
            None => Vec::new(),
        };

        let ready_timeout = match env.non_empty(READY_TIMEOUT_VAR) {
            Some(ms) => parse_ready_timeout(&ms)?,
            None => Duration::from_millis(DEFAULT_READY_TIMEOUT_MS),
        };

        let connect_guard = GuardMode::from_setting(env.raw(CONNECT_GUARD_VAR).as_deref())?;
        let rules = Arc::new(AddressRules::from_environment(env, resolv_conf)?);

        Ok(Self {
            binary,
            config,
            listen_address,
            extra_args,
            ready_timeout,
            connect_guard,
            rules,
        })
    }

    /// The command line blackbox_exporter is started with.
    pub fn blackbox_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--config.file={}", self.config.display()),
            format!("--web.listen-address={}", self.listen_address),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

fn parse_ready_timeout(ms: &str) -> Result<Duration, SettingsError> {
    let value: u64 = ms.parse().map_err(|_| {
        SettingsError::new(
            READY_TIMEOUT_VAR,
            format!("{ms:?} is not a whole number of milliseconds"),
        )
    })?;
    if value == 0 || value > MAX_READY_TIMEOUT_MS {
        return Err(SettingsError::new(
            READY_TIMEOUT_VAR,
            format!(
                "{value} is out of range: it must be from 1 to {MAX_READY_TIMEOUT_MS} ms, \
                 within Lambda's 10 s Init limit"
            ),
        ));
    }
    Ok(Duration::from_millis(value))
}

/// Splits `BLACKBOX_ARGS` like a shell would for plain words and quotes, without
/// expansions: `--a=1 '--b=two words' "--c=x"`.
fn parse_args(raw: &str) -> Result<Vec<String>, SettingsError> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in raw.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(SettingsError::new(ARGS_VAR, "a quote is not closed"));
    }
    if in_word {
        args.push(current);
    }
    for arg in &args {
        if !arg.starts_with('-') {
            return Err(SettingsError::new(
                ARGS_VAR,
                format!("{arg:?} is not a flag (flags start with -)"),
            ));
        }
        for (flag, var) in OWNED_FLAGS {
            let name = arg.split('=').next().unwrap_or(arg);
            if name == flag || name == &flag[1..] {
                return Err(SettingsError::new(
                    ARGS_VAR,
                    format!("{flag} is set by the extension; use {var} instead"),
                ));
            }
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)], task_config: bool) -> Result<Settings, SettingsError> {
        Settings::from_environment(
            &Environment::from_pairs(vars, &[]),
            Path::new("/opt"),
            task_config,
            "nameserver 169.254.78.1\n",
        )
    }

    #[test]
    fn a_path_is_read_without_the_spaces_around_it() {
        let s = settings(
            &[
                (BINARY_VAR, " /usr/bin/prometheus-blackbox-exporter\n"),
                (READY_TIMEOUT_VAR, " 700 "),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            s.binary,
            PathBuf::from("/usr/bin/prometheus-blackbox-exporter")
        );
        assert_eq!(s.ready_timeout, Duration::from_millis(700));
    }

    #[test]
    fn defaults_come_from_the_layer_root() {
        let s = settings(&[], false).unwrap();
        assert_eq!(s.binary, PathBuf::from("/opt/bin/blackbox_exporter"));
        assert_eq!(s.config, PathBuf::from("/opt/blackbox/blackbox.yml"));
        assert_eq!(s.listen_address.as_str(), "127.0.0.1:9115");
        assert_eq!(s.ready_timeout, Duration::from_millis(5000));
        assert_eq!(s.connect_guard, GuardMode::Auto);
        assert!(s.extra_args.is_empty());
        assert_eq!(
            s.blackbox_args(),
            [
                "--config.file=/opt/blackbox/blackbox.yml",
                "--web.listen-address=127.0.0.1:9115"
            ]
        );
    }

    #[test]
    fn a_function_config_wins_over_the_layer_default_but_not_over_the_variable() {
        assert_eq!(
            settings(&[], true).unwrap().config,
            PathBuf::from("/var/task/blackbox.yml")
        );
        assert_eq!(
            settings(&[(CONFIG_VAR, "/tmp/b.yml")], true)
                .unwrap()
                .config,
            PathBuf::from("/tmp/b.yml")
        );
    }

    #[test]
    fn layer_root_is_two_levels_above_the_extension() {
        assert_eq!(
            layer_root(Path::new("/opt/extensions/blackbox-extension")),
            PathBuf::from("/opt")
        );
        assert_eq!(
            layer_root(Path::new("/w/target/layer/extensions/blackbox-extension")),
            PathBuf::from("/w/target/layer")
        );
    }

    #[test]
    fn valid_values_are_taken() {
        let s = settings(
            &[
                (BINARY_VAR, "/usr/bin/prometheus-blackbox-exporter"),
                (LISTEN_ADDRESS_VAR, " [::1]:9200 "),
                (READY_TIMEOUT_VAR, "9500"),
                (
                    ARGS_VAR,
                    "--log.level=debug  '--timeout-offset=0.25' \"--log.format=json\"",
                ),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            s.binary,
            PathBuf::from("/usr/bin/prometheus-blackbox-exporter")
        );
        assert_eq!(s.listen_address.as_str(), "[::1]:9200");
        assert_eq!(s.ready_timeout, Duration::from_millis(9500));
        assert_eq!(
            s.extra_args,
            [
                "--log.level=debug",
                "--timeout-offset=0.25",
                "--log.format=json"
            ]
        );
    }

    #[test]
    fn the_connect_guard_modes_are_read_in_any_case() {
        for (value, mode) in [
            ("auto", GuardMode::Auto),
            ("Required", GuardMode::Required),
            (" off ", GuardMode::Off),
        ] {
            let s = settings(&[(CONNECT_GUARD_VAR, value)], false).unwrap();
            assert_eq!(s.connect_guard, mode, "{value}");
        }
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let cases: &[(&str, &str, &str)] = &[
            (
                READY_TIMEOUT_VAR,
                "abc",
                "BLACKBOX_READY_TIMEOUT_MS: \"abc\" is not a whole number of milliseconds",
            ),
            (
                READY_TIMEOUT_VAR,
                "-5",
                "BLACKBOX_READY_TIMEOUT_MS: \"-5\" is not a whole number of milliseconds",
            ),
            (
                READY_TIMEOUT_VAR,
                "0",
                "BLACKBOX_READY_TIMEOUT_MS: 0 is out of range: it must be from 1 to 9500 ms, within Lambda's 10 s Init limit",
            ),
            (
                READY_TIMEOUT_VAR,
                "10000",
                "BLACKBOX_READY_TIMEOUT_MS: 10000 is out of range: it must be from 1 to 9500 ms, within Lambda's 10 s Init limit",
            ),
            (
                LISTEN_ADDRESS_VAR,
                "localhost",
                "BLACKBOX_LISTEN_ADDRESS: \"localhost\" is not a host:port address (no port)",
            ),
            (
                LISTEN_ADDRESS_VAR,
                "127.0.0.1:http",
                "BLACKBOX_LISTEN_ADDRESS: \"127.0.0.1:http\" is not a host:port address (the port must be a number from 1 to 65535)",
            ),
            (
                LISTEN_ADDRESS_VAR,
                "127.0.0.1:0",
                "BLACKBOX_LISTEN_ADDRESS: \"127.0.0.1:0\" is not a host:port address (the port must be a number from 1 to 65535)",
            ),
            (
                LISTEN_ADDRESS_VAR,
                "[::1:9115",
                "BLACKBOX_LISTEN_ADDRESS: \"[::1:9115\" is not a host:port address (the host is malformed)",
            ),
            (
                LISTEN_ADDRESS_VAR,
                "0.0.0.0:9115",
                "BLACKBOX_LISTEN_ADDRESS: \"0.0.0.0:9115\" is not a loopback address: blackbox must listen on 127.0.0.0/8, [::1] or localhost",
            ),
            (
                LISTEN_ADDRESS_VAR,
                ":9115",
                "BLACKBOX_LISTEN_ADDRESS: \":9115\" is not a loopback address: blackbox must listen on 127.0.0.0/8, [::1] or localhost",
            ),
            (
                LISTEN_ADDRESS_VAR,
                "10.0.0.5:9115",
                "BLACKBOX_LISTEN_ADDRESS: \"10.0.0.5:9115\" is not a loopback address: blackbox must listen on 127.0.0.0/8, [::1] or localhost",
            ),
            (
                ARGS_VAR,
                "--log.level='debug",
                "BLACKBOX_ARGS: a quote is not closed",
            ),
            (
                ARGS_VAR,
                "--log.level=debug verbose",
                "BLACKBOX_ARGS: \"verbose\" is not a flag (flags start with -)",
            ),
            (
                ARGS_VAR,
                "--config.file=/tmp/x.yml",
                "BLACKBOX_ARGS: --config.file is set by the extension; use BLACKBOX_CONFIG instead",
            ),
            (
                ARGS_VAR,
                "-web.listen-address=:1",
                "BLACKBOX_ARGS: --web.listen-address is set by the extension; use BLACKBOX_LISTEN_ADDRESS instead",
            ),
            (
                CONNECT_GUARD_VAR,
                "on",
                "BLACKBOX_CONNECT_GUARD: \"on\" is not auto, required or off",
            ),
            (
                "BLACKBOX_ALLOWED_TARGETS",
                "10.0.0.0/33",
                "BLACKBOX_ALLOWED_TARGETS: \"10.0.0.0/33\" is not a valid CIDR network",
            ),
            (
                "BLACKBOX_DENY_PRIVATE",
                "maybe",
                "BLACKBOX_DENY_PRIVATE: \"maybe\" is not true or false",
            ),
        ];
        for (var, value, want) in cases {
            let err = settings(&[(var, value)], false).unwrap_err();
            assert_eq!(err.to_string(), *want, "{var}={value}");
            assert_eq!(err.var, *var);
        }
    }

    #[test]
    fn empty_values_mean_the_default() {
        let s = settings(
            &[
                (BINARY_VAR, ""),
                (CONFIG_VAR, " "),
                (LISTEN_ADDRESS_VAR, ""),
                (READY_TIMEOUT_VAR, ""),
                (ARGS_VAR, "  "),
                (CONNECT_GUARD_VAR, ""),
            ],
            false,
        )
        .unwrap();
        assert_eq!(s, settings(&[], false).unwrap());
    }
}
