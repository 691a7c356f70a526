//! A raw HTTP/1.1 server on loopback for client tests: it answers each
//! connection with a scripted, byte-exact reply, so tests control every quirk
//! of the wire (status, headers, chunking, cut connections, stalls).

#![allow(dead_code, unreachable_pub, missing_docs)]
// The server paces its replies in real time; only the client under test uses the injected clock.
#![allow(clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Write these byte pieces in order, pausing `gap` between them, then close.
    Pieces { pieces: Vec<Vec<u8>>, gap: Duration },
    /// Close the connection without answering.
    Close,
    /// Read the request and never answer.
    Hang,
}

impl Reply {
    /// A complete response with `Content-Length`.
    pub fn full(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Self::Pieces { pieces: vec![bytes], gap: Duration::ZERO }
    }

    /// A JSON response with Azure's usual headers.
    pub fn json(status: u16, extra_headers: &[(&str, &str)], body: &str) -> Self {
        let mut headers = vec![("content-type", "application/json"), ("apim-request-id", "req-0001")];
        headers.extend_from_slice(extra_headers);
        Self::full(status, &headers, body.as_bytes())
    }

    /// An event stream sent with chunked transfer encoding, one HTTP chunk per
    /// piece of `body` split at `splits` (byte offsets).
    pub fn sse_chunked(headers: &[(&str, &str)], body: &[u8], splits: &[usize], gap: Duration) -> Self {
        let mut head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\napim-request-id: req-stream\r\n".to_owned();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
        let mut pieces = vec![head.into_bytes()];
        let mut start = 0;
        let mut bounds: Vec<usize> = splits.iter().copied().filter(|&at| at > 0 && at < body.len()).collect();
        bounds.sort_unstable();
        bounds.dedup();
        bounds.push(body.len());
        for end in bounds {
            let part = &body[start..end];
            let mut chunk = format!("{:x}\r\n", part.len()).into_bytes();
            chunk.extend_from_slice(part);
            chunk.extend_from_slice(b"\r\n");
            pieces.push(chunk);
            start = end;
        }
        pieces.push(b"0\r\n\r\n".to_vec());
        Self::Pieces { pieces, gap }
    }

    /// An event stream whose body ends when the connection closes (no length,
    /// no chunking), written in pieces.
    pub fn sse_until_close(body: &[u8], splits: &[usize], gap: Duration) -> Self {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\napim-request-id: req-stream\r\nconnection: close\r\n\r\n".to_vec();
        let mut pieces = vec![head];
        let mut start = 0;
        for &end in splits.iter().chain(std::iter::once(&body.len())) {
            if end > start && end <= body.len() {
                pieces.push(body[start..end].to_vec());
                start = end;
            }
        }
        Self::Pieces { pieces, gap }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// The server. Replies are used in order; after the last, it answers 500.
pub struct RawServer {
    pub base: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let replies = Arc::new(Mutex::new(std::collections::VecDeque::from(replies)));
        let task = {
            let recorded = recorded.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((socket, _)) = listener.accept().await else { return };
                    let reply = replies.lock().unwrap().pop_front();
                    let recorded = recorded.clone();
                    tokio::spawn(async move { serve(socket, reply, recorded).await });
                }
            })
        };
        Self { base, recorded, task }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut socket: TcpStream, reply: Option<Reply>, recorded: Arc<Mutex<Vec<Recorded>>>) {
    let Some(request) = read_request(&mut socket).await else { return };
    recorded.lock().unwrap().push(request);
    match reply
        .unwrap_or_else(|| Reply::json(500, &[], r#"{"error":{"code":"500","message":"no scripted reply left"}}"#))
    {
        Reply::Pieces { pieces, gap } => {
            for (index, piece) in pieces.iter().enumerate() {
                if index > 0 && !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                if socket.write_all(piece).await.is_err() {
                    return;
                }
                let _ = socket.flush().await;
            }
            let _ = socket.shutdown().await;
        }
        Reply::Close => {
            drop(socket);
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded { method, target, headers, body })
}
