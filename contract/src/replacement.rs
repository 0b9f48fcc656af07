//! How the handler asks the extension to replace a hung blackbox: the extension writes
//! its pid to the listen address's pid file, the handler checks that the pid is still
//! the extension (a recycled pid must not get the signal) and sends it SIGUSR1.

use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The extension's name as /proc shows it (the kernel keeps 15 bytes).
pub const EXTENSION_COMM: &str = "blackbox-extens";

/// The signal that asks for a replacement; its default action would end the extension,
/// so the extension listens for it before writing the pid file.
pub const REPLACE_SIGNAL: Signal = Signal::SIGUSR1;

/// Written by the extension once it handles [`REPLACE_SIGNAL`].
pub fn write_pid_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, std::process::id().to_string())
}

/// The extension's pid, if the file names a live process that is the extension.
pub fn running_extension(pid_file: &Path) -> Option<Pid> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = state
        .rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('Z'));
    (comm.trim() == EXTENSION_COMM && !zombie).then(|| Pid::from_raw(pid))
}

pub fn ask_for_replacement(extension: Pid) -> nix::Result<()> {
    kill(extension, REPLACE_SIGNAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_naming_another_process_names_no_extension() {
        let dir = std::env::temp_dir().join(format!(
            "lambda-blackbox-replacement-{}",
            std::process::id()
        ));
        let file = dir.join("extension.pid");
        // This test process is not the extension, so its own pid is refused.
        write_pid_file(&file).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            std::process::id().to_string()
        );
        assert_eq!(running_extension(&file), None);
        std::fs::write(&file, "not a pid").unwrap();
        assert_eq!(running_extension(&file), None);
        assert_eq!(running_extension(&dir.join("missing.pid")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
