//! A small blocking HTTP/1.1 client over `std::net`: one request per connection, plain HTTP
//! (the host serves loopback by default). The `durable` CLI and the end-to-end test harness
//! both talk to the host through it. Not for load: the benchmark keeps connections open.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request. `target` is the path and query (`/api/x?y=1`).
pub struct Request<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub body: &'a [u8],
    /// Extra headers. Without a `Content-Type` among them, a non-empty body is sent as JSON.
    pub headers: &'a [(&'a str, &'a str)],
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Error {
    /// Nothing listens at the address (or it cannot be resolved).
    Connect(std::io::Error),
    /// The connection broke or timed out while sending or reading.
    Io(std::io::Error),
    /// The bytes that came back are not an HTTP response.
    Malformed(&'static str),
}

/// A body that is not JSON, with the body (for the error message).
#[derive(Debug)]
pub struct NotJson {
    pub reason: serde_json::Error,
    pub body: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "cannot connect: {e}"),
            Error::Io(e) => write!(f, "the connection failed: {e}"),
            Error::Malformed(what) => write!(f, "malformed HTTP response: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl fmt::Display for NotJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the host answered non-JSON ({}): {}",
            self.reason, self.body
        )
    }
}

impl std::error::Error for NotJson {}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value, NotJson> {
        serde_json::from_str(&self.body).map_err(|reason| NotJson {
            reason,
            body: self.body.clone(),
        })
    }
}

/// Sends `request` to `host_port` (`127.0.0.1:7071`) and reads the whole answer, waiting at
/// most `read_timeout` for each read.
pub fn send(
    host_port: &str,
    request: &Request<'_>,
    read_timeout: Duration,
) -> Result<Response, Error> {
    let mut stream = TcpStream::connect(host_port).map_err(Error::Connect)?;
    stream
        .set_read_timeout(Some(read_timeout))
        .map_err(Error::Io)?;
    stream
        .write_all(&encode(host_port, request))
        .map_err(Error::Io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(Error::Io)?;
    parse(&raw)
}

/// The request's bytes.
fn encode(host_port: &str, request: &Request<'_>) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        request.method,
        request.target,
        request.body.len()
    );
    let typed = request
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !request.body.is_empty() && !typed {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in request.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(request.body);
    bytes
}

/// Parses a whole HTTP/1.1 response (a chunked body is put together).
pub fn parse(raw: &[u8]) -> Result<Response, Error> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or(Error::Malformed("no end of headers"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or(Error::Malformed("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = match chunked {
        true => dechunk(rest),
        false => rest.to_owned(),
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_chunked_bodies() {
        let raw = b"HTTP/1.1 202 Accepted\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let a = parse(raw).unwrap();
        assert_eq!(
            (a.status, a.body.as_str(), a.header("x-a")),
            (202, "abcde", Some("1"))
        );
        assert!(matches!(parse(b"garbage"), Err(Error::Malformed(_))));
        let not_json = Response {
            status: 200,
            headers: vec![],
            body: "<html>".into(),
        };
        let e = not_json.json().unwrap_err().to_string();
        assert!(e.contains("<html>"), "{e}");
    }

    #[test]
    fn a_body_is_json_unless_its_type_is_given() {
        let json = Request {
            method: "POST",
            target: "/a?b=1",
            body: b"{}",
            headers: &[("x-functions-key", "k")],
        };
        let text = String::from_utf8(encode("h:1", &json)).unwrap();
        assert!(
            text.starts_with("POST /a?b=1 HTTP/1.1\r\nHost: h:1\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Type: application/json\r\nx-functions-key: k\r\n\r\n{}"));
        let wasm = Request {
            headers: &[("Content-Type", "application/wasm")],
            ..json
        };
        let text = String::from_utf8(encode("h:1", &wasm)).unwrap();
        assert_eq!(text.matches("Content-Type").count(), 1, "{text}");
    }
}
