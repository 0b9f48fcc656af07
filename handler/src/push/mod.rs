//! Push mode (probe on a schedule, remote-write the results): an invocation that is not an
//! HTTP event runs the probes and writes the series Prometheus would have scraped. So far:
//! which events are push runs, its settings (read and validated once) and the
//! remote-write bodies; not yet wired to invocations.

pub mod event;
pub mod remote_write;
pub mod settings;

pub use settings::{PushSettings, RemoteWriteAuth};
