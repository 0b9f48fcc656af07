//! Names and defaults that the extension and the handler must agree on.
//!
//! Both binaries run in the same Lambda execution environment and read the same
//! function environment, so keeping the variable names and defaults here is what
//! stops them from disagreeing on where blackbox_exporter listens, which config it loads,
//! and how the handler asks for a hung blackbox to be replaced.

pub mod environment;
mod listen_address;
pub mod logging;
pub mod replacement;
mod settings_error;
pub mod targets_file;

pub use environment::{Environment, Secret, SecretKind};
pub use listen_address::{ListenAddress, DEFAULT_LISTEN_ADDRESS, LISTEN_ADDRESS_VAR};
pub use settings_error::SettingsError;

/// The blackbox_exporter configuration file to load.
pub const CONFIG_VAR: &str = "BLACKBOX_CONFIG";

/// A function that ships `blackbox.yml` in its own package overrides the layer's.
pub const TASK_CONFIG: &str = "/var/task/blackbox.yml";

/// Which configuration blackbox loads: `BLACKBOX_CONFIG`, else the function's own
/// `/var/task/blackbox.yml`, else the layer's default. The extension starts blackbox with
/// it and the handler reads its modules from it, so both must choose alike.
pub fn blackbox_config_path(
    configured: Option<&str>,
    layer_root: &std::path::Path,
    task_config_exists: bool,
) -> std::path::PathBuf {
    match configured.map(str::trim).filter(|c| !c.is_empty()) {
        Some(path) => std::path::PathBuf::from(path),
        None if task_config_exists => std::path::PathBuf::from(TASK_CONFIG),
        None => layer_root.join("blackbox/blackbox.yml"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_the_variable_then_the_function_s_then_the_layer_s() {
        let layer = std::path::Path::new("/opt");
        let cases = [
            (Some("/tmp/b.yml"), true, "/tmp/b.yml"),
            (Some(" "), true, TASK_CONFIG),
            (None, true, TASK_CONFIG),
            (None, false, "/opt/blackbox/blackbox.yml"),
        ];
        for (configured, task, want) in cases {
            assert_eq!(
                blackbox_config_path(configured, layer, task),
                std::path::PathBuf::from(want),
                "{configured:?} {task}"
            );
        }
    }
}
