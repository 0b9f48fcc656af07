//! Push mode (probe on a schedule, remote-write the results): an invocation that is not an
//! HTTP event runs the probes and writes the series Prometheus would have scraped. So far:
//! its settings, read and validated once.

pub mod settings;

pub use settings::{PushSettings, RemoteWriteAuth};
