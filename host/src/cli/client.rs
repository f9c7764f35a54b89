//! The CLI's client: a host URL and key over the shared blocking HTTP/1.1 client (plain HTTP;
//! the host serves loopback by default).

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
pub type Answer = http_client::Response;

impl From<http_client::NotJson> for CliError {
    fn from(e: http_client::NotJson) -> Self {
        CliError::Protocol(e.to_string())
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

    /// Sends a request with a body of the type `headers` name (JSON unless they say).
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Answer, CliError> {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(key) = &self.key {
            all.push(("x-functions-key", key));
        }
        let target = format!("{}{path}", self.base_path);
        let request = http_client::Request {
            method,
            target: &target,
            body,
            headers: &all,
        };
        // Long enough for `start --wait` and `raise --wait` (up to an hour).
        let timeout = Duration::from_secs(3700);
        http_client::send(&self.host_port, &request, timeout).map_err(|e| match e {
            http_client::Error::Connect(e) => CliError::Connect(format!(
                "cannot reach the host at {} ({e}). Is `durable serve` running? Set --url or DURABLE_URL.",
                self.url
            )),
            http_client::Error::Io(e) => CliError::Connect(format!("talking to {}: {e}", self.url)),
            malformed => CliError::Protocol(malformed.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert!(Client::new("https://x", None).is_err());
        assert!(Client::new("http://", None).is_err());
        let c = Client::new("http://127.0.0.1:7071/base/", None).unwrap();
        assert_eq!(
            (c.host_port.as_str(), c.base_path.as_str()),
            ("127.0.0.1:7071", "/base")
        );
    }
}
