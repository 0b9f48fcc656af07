//! In-memory copy of everything the sandbox's processes (and the platform) print,
//! as CloudWatch Logs would show it: one entry per line, unchanged.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

pub struct LogSink {
    buf: Mutex<String>,
    changed: watch::Sender<u64>,
    echo: bool,
}

impl LogSink {
    pub fn new(echo: bool) -> Self {
        LogSink {
            buf: Mutex::new(String::new()),
            changed: watch::Sender::new(0),
            echo,
        }
    }

    pub fn line(&self, line: &str) {
        if self.echo {
            eprintln!("{line}");
        }
        if let Ok(mut b) = self.buf.lock() {
            b.push_str(line);
            b.push('\n');
        }
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn text(&self) -> String {
        self.buf.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn any_line(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.buf
            .lock()
            .map(|b| b.lines().any(pred))
            .unwrap_or(false)
    }

    pub async fn wait_for(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.changed.subscribe();
        loop {
            if self.any_line(&pred) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.any_line(&pred),
            }
        }
    }

    /// Copies a process pipe into the sink line by line (lossy UTF-8, `\n` / `\r\n` stripped).
    pub async fn pump(&self, pipe: impl AsyncRead + Unpin) {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(line.last(), Some(b'\n' | b'\r')) {
                        line.pop();
                    }
                    self.line(&String::from_utf8_lossy(&line));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pump_and_wait() {
        let sink = std::sync::Arc::new(LogSink::new(false));
        let s2 = sink.clone();
        let waiter =
            tokio::spawn(async move { s2.wait_for(|l| l == "b", Duration::from_secs(5)).await });
        sink.pump(&b"a\r\nb\nc"[..]).await;
        assert!(waiter.await.expect("join"));
        assert_eq!(sink.text(), "a\nb\nc\n");
        assert!(
            !sink
                .wait_for(|l| l == "zz", Duration::from_millis(20))
                .await
        );
    }
}
