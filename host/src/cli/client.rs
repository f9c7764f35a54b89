//! A small blocking HTTP/1.1 client for the CLI (plain HTTP; the host serves loopback by default).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::CliError;

/// Where the host is and how to authenticate.
pub struct Client {
    host_port: String,
    base_path: String,
    key: Option<String>,
    url: String,
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value, CliError> {
        serde_json::from_str(&self.body).map_err(|e| {
            CliError::Protocol(format!("the host answered non-JSON ({e}): {}", self.body))
        })
    }
}

impl Client {
    pub fn new(url: &str, key: Option<String>) -> Result<Client, CliError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            CliError::Usage(format!(
                "--url must start with http:// (got '{url}'); HTTPS is not supported by the CLI"
            ))
        })?;
        let (host_port, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host_port.is_empty() {
            return Err(CliError::Usage(format!("--url has no host: '{url}'")));
        }
        Ok(Client {
            host_port: host_port.to_owned(),
            base_path: base.to_owned(),
            key,
            url: url.to_owned(),
        })
    }

    /// Sends a request; `path` starts with `/` and may carry a query.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, CliError> {
        self.exchange(method, path, body.unwrap_or("").as_bytes(), headers)
    }

    /// Sends a request with a binary body (a component).
    pub fn send_bytes(&self, method: &str, path: &str, body: &[u8]) -> Result<Answer, CliError> {
        self.exchange(method, path, body, &[("Content-Type", "application/wasm")])
    }

    /// Sends a request with a body of the type `headers` name.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Answer, CliError> {
        let mut stream = TcpStream::connect(&self.host_port).map_err(|e| {
            CliError::Connect(format!(
                "cannot reach the host at {} ({e}). Is `durable serve` running? Set --url or DURABLE_URL.",
                self.url
            ))
        })?;
        stream
            .set_read_timeout(Some(Duration::from_secs(3700)))
            .map_err(|e| CliError::Connect(e.to_string()))?;
        let mut request = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.base_path,
            self.host_port,
            body.len()
        );
        if !body.is_empty()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            request.push_str("Content-Type: application/json\r\n");
        }
        if let Some(key) = &self.key {
            request.push_str(&format!("x-functions-key: {key}\r\n"));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        stream
            .write_all(&bytes)
            .map_err(|e| CliError::Connect(format!("sending to {}: {e}", self.url)))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| CliError::Connect(format!("reading from {}: {e}", self.url)))?;
        parse(&raw)
    }
}

fn parse(raw: &[u8]) -> Result<Answer, CliError> {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| CliError::Protocol("malformed HTTP response".into()))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CliError::Protocol("malformed HTTP status line".into()))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok(Answer {
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
    fn urls_and_responses_parse() {
        assert!(Client::new("https://x", None).is_err());
        assert!(Client::new("http://", None).is_err());
        let c = Client::new("http://127.0.0.1:7071/base/", None).unwrap();
        assert_eq!(
            (c.host_port.as_str(), c.base_path.as_str()),
            ("127.0.0.1:7071", "/base")
        );
        let a = parse(b"HTTP/1.1 202 Accepted\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").unwrap();
        assert_eq!(
            (a.status, a.body.as_str(), a.header("x-a")),
            (202, "abc", Some("1"))
        );
    }
}
