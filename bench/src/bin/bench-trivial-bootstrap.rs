//! The smallest runtime there is, for measuring the sandbox itself: it answers every
//! event at once with a fixed Function URL response and never touches blackbox. The
//! standard library only, one keep-alive connection to the Runtime API.
//!
//! Installed as `extensions/trivial-extension` it is the smallest external extension
//! instead: it registers for SHUTDOWN, waits on `/event/next`, and exits on SHUTDOWN.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

const ANSWER: &str =
    r#"{"statusCode":200,"headers":{"content-type":"text/plain; charset=utf-8"},"body":"ok\n"}"#;

struct Response {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange on a keep-alive connection.
fn request(
    conn: &mut BufReader<TcpStream>,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let stream = conn.get_mut();
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;

    let mut status = String::new();
    conn.read_line(&mut status)?;
    if status.is_empty() {
        return Err(std::io::Error::other("the API closed the connection"));
    }
    let mut response = Response {
        headers: Vec::new(),
        body: Vec::new(),
    };
    loop {
        let mut line = String::new();
        conn.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            response
                .headers
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if let Some(len) = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        response.body.resize(len, 0);
        conn.read_exact(&mut response.body)?;
    } else if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            response.body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(response)
}

fn extension(conn: &mut BufReader<TcpStream>, api: &str, name: &str) {
    let registered = request(
        conn,
        api,
        "POST",
        "/2020-01-01/extension/register",
        &[("Lambda-Extension-Name", name)],
        r#"{"events":["SHUTDOWN"]}"#,
    )
    .expect("register");
    let id = registered
        .header("lambda-extension-identifier")
        .expect("Lambda-Extension-Identifier")
        .to_string();
    loop {
        let event = request(
            conn,
            api,
            "GET",
            "/2020-01-01/extension/event/next",
            &[("Lambda-Extension-Identifier", &id)],
            "",
        )
        .expect("/event/next");
        if String::from_utf8_lossy(&event.body).contains("SHUTDOWN") {
            return;
        }
    }
}

fn runtime(conn: &mut BufReader<TcpStream>, api: &str) {
    loop {
        let event = request(
            conn,
            api,
            "GET",
            "/2018-06-01/runtime/invocation/next",
            &[],
            "",
        )
        .expect("/invocation/next");
        let id = event
            .header("lambda-runtime-aws-request-id")
            .expect("Lambda-Runtime-Aws-Request-Id")
            .to_string();
        request(
            conn,
            api,
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/response"),
            &[("Content-Type", "application/json")],
            ANSWER,
        )
        .expect("/response");
    }
}

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is not set");
    let mut conn = BufReader::new(TcpStream::connect(&api).expect("connect to the Runtime API"));
    let _ = conn.get_ref().set_nodelay(true);
    let me = std::env::args().next().unwrap_or_default();
    let name = std::path::Path::new(&me)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "trivial-extension" {
        extension(&mut conn, &api, &name);
    } else {
        runtime(&mut conn, &api);
    }
}
