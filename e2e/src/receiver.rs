//! A remote-write endpoint on loopback that answers as the test scripts it — a status (with
//! `Retry-After`), a stall, or passing the request on to a real Prometheus's receiver — and
//! records every request it was sent, so that a test sees each attempt and its bytes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// What the receiver does with one request, in the order given; after the last, `Forward`
/// (or 204 when there is nowhere to forward to).
#[derive(Debug, Clone)]
pub enum Step {
    /// This status, with this `Retry-After` value if any, and a one-line body.
    Answer(u16, Option<&'static str>),
    /// No answer for this long (longer than the function has, in the slow-receiver test).
    Stall(Duration),
    /// Pass the request on to Prometheus and answer what it answered.
    Forward,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
}

struct Shared {
    script: Mutex<Vec<Step>>,
    received: Mutex<Vec<Received>>,
    forward_to: Option<String>,
    client: reqwest::Client,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listening on a loopback port; `forward_to` is Prometheus's `/api/v1/write`.
    pub async fn start(forward_to: Option<String>, script: Vec<Step>) -> Receiver {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into_iter().rev().collect()),
            received: Mutex::new(Vec::new()),
            forward_to,
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route("/api/v1/write", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let step = shared.script.lock().unwrap().pop().unwrap_or(Step::Forward);
    let (status, retry_after, text) = match step {
        Step::Answer(status, retry_after) => (status, retry_after, format!("scripted {status}")),
        Step::Stall(time) => {
            tokio::time::sleep(time).await;
            (503, None, "stalled".to_string())
        }
        Step::Forward => match &shared.forward_to {
            None => (204, None, String::new()),
            Some(url) => {
                let mut request = shared.client.post(url).body(body.clone());
                for name in [
                    "content-encoding",
                    "content-type",
                    "x-prometheus-remote-write-version",
                ] {
                    if let Some(value) = headers.get(name) {
                        request = request.header(name, value.as_bytes());
                    }
                }
                match request.send().await {
                    Ok(answer) => (
                        answer.status().as_u16(),
                        None,
                        answer.text().await.unwrap_or_default(),
                    ),
                    Err(e) => (502, None, format!("prometheus did not answer: {e}")),
                }
            }
        },
    };
    shared.received.lock().unwrap().push(Received {
        at,
        headers,
        body,
        answered: status,
    });
    let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", value.parse().unwrap());
    }
    response
}
