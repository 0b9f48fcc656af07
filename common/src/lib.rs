//! Names and defaults that the extension and the handler must agree on.
//!
//! Both binaries run in the same Lambda execution environment and read the same
//! function environment, so keeping the variable names and defaults here is what
//! stops them from disagreeing on where blackbox_exporter listens.

/// Address blackbox_exporter listens on, and the handler connects to.
pub const LISTEN_ADDRESS_VAR: &str = "BLACKBOX_LISTEN_ADDRESS";

/// Loopback only: nothing outside the execution environment should reach blackbox.
pub const DEFAULT_LISTEN_ADDRESS: &str = "127.0.0.1:9115";

/// Where the handler finds blackbox: the configured listen address, or the default.
///
/// An unspecified host (`:9115`, `0.0.0.0:9115`, `[::]:9115`) listens on every
/// interface, loopback included, so the handler connects to loopback in that case.
pub fn upstream_authority(listen_address: Option<&str>) -> String {
    let address = listen_address
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or(DEFAULT_LISTEN_ADDRESS);
    match address.rsplit_once(':') {
        Some(("", port)) | Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => address.to_string(),
    }
}

/// Where the extension writes its process id, so that the handler can ask it to replace
/// a blackbox that stopped answering (SIGUSR1) and can tell when it is gone. One file per
/// listen address: /tmp is shared by every process of an execution environment.
pub fn extension_pid_file(listen_address: Option<&str>) -> std::path::PathBuf {
    let authority = upstream_authority(listen_address);
    let name: String = authority
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    std::path::PathBuf::from(format!("/tmp/lambda-blackbox/extension-{name}.pid"))
}

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
    fn upstream_authority_follows_the_listen_address() {
        let cases = [
            (None, "127.0.0.1:9115"),
            (Some(""), "127.0.0.1:9115"),
            (Some("127.0.0.1:9200"), "127.0.0.1:9200"),
            (Some(":9300"), "127.0.0.1:9300"),
            (Some("0.0.0.0:9301"), "127.0.0.1:9301"),
            (Some("[::]:9302"), "[::1]:9302"),
            (Some("[::1]:9303"), "[::1]:9303"),
        ];
        for (input, want) in cases {
            assert_eq!(upstream_authority(input), want, "input {input:?}");
        }
    }

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

    #[test]
    fn the_pid_file_is_per_listen_address() {
        assert_eq!(
            extension_pid_file(None).to_str(),
            Some("/tmp/lambda-blackbox/extension-127_0_0_1_9115.pid")
        );
        assert_eq!(
            extension_pid_file(Some(":9200")),
            extension_pid_file(Some("127.0.0.1:9200"))
        );
    }
}
