//! A tiny HTTP/1.1 server for the tests: serves a fixed list of replies, one
//! connection each, records the requests, then exits. Bounded: it waits at
//! most [`ACCEPT_WAIT`] for each connection and [`READ_WAIT`] for a request.

use std::{
    io::{ErrorKind, Read, Write},
    net::{TcpListener, TcpStream},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::Value;

const ACCEPT_WAIT: Duration = Duration::from_secs(10);
const READ_WAIT: Duration = Duration::from_secs(5);

/// A request as the server saw it.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// What to send back for one request.
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Wait this long before answering.
    delay: Duration,
    /// Send the head, announce the body, then stall this long and close.
    stall_body: Option<Duration>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
            stall_body: None,
        }
    }

    pub(crate) fn stalled_body(stall: Duration) -> Self {
        Self {
            stall_body: Some(stall),
            ..Self::json(200, "")
        }
    }

    pub(crate) fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running server.
pub(crate) struct Server {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) url: String,
    handle: JoinHandle<Vec<Seen>>,
}

impl Server {
    pub(crate) fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            for reply in replies {
                let Some(stream) = accept(&listener) else {
                    break;
                };
                if let Some(request) = serve(stream, &reply) {
                    seen.push(request);
                }
            }
            seen
        });
        Self { url, handle }
    }

    /// Waits for the server to finish and returns what it saw.
    pub(crate) fn finish(self) -> Vec<Seen> {
        self.handle.join().expect("test server thread")
    }
}

fn accept(listener: &TcpListener) -> Option<TcpStream> {
    let deadline = Instant::now() + ACCEPT_WAIT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return Some(stream),
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
}

fn serve(mut stream: TcpStream, reply: &Reply) -> Option<Seen> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(READ_WAIT)).ok()?;
    let seen = read_request(&mut stream)?;
    thread::sleep(reply.delay);
    let mut head = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Content-Type: application/json\r\n");
    match reply.stall_body {
        Some(stall) => {
            head.push_str("Content-Length: 100\r\n\r\n{\"text\": ");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.flush();
            thread::sleep(stall);
        }
        None => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
            // The client may have given up (timeout tests): ignore errors.
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(reply.body.as_bytes());
            let _ = stream.flush();
        }
    }
    Some(seen)
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}
