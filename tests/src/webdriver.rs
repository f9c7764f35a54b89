//! A minimal synchronous W3C WebDriver client for the end-to-end browser tests: it starts
//! ChromeDriver on a free loopback port, opens one headless Chromium session and speaks the
//! WebDriver JSON protocol to it through `http_client`, one command per connection.
//!
//! Only what the tests need is here: navigation, CSS lookups, clicks and typing, script
//! execution, alerts, cookies, screenshots and polling helpers.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use http_client::Response;
use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference (W3C WebDriver, "web element
/// identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long ChromeDriver may take to report ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the `wait_*` helpers poll.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A WebDriver error answer (HTTP 4xx/5xx with `{"value":{"error":…,"message":…}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDriverError {
    /// The command, as `METHOD /path`.
    pub command: String,
    /// The WebDriver error code, such as `no such element`.
    pub error: String,
    /// The first line of the driver's message.
    pub message: String,
}

impl fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebDriver {} failed: {}: {}",
            self.command, self.error, self.message
        )
    }
}

impl std::error::Error for WebDriverError {}

/// A running ChromeDriver with one open headless Chromium session. Dropping it closes the
/// session and kills the driver.
pub struct Browser {
    driver: Child,
    port: u16,
    /// Empty until the session is open (so `Drop` knows whether to delete it).
    session: String,
}

/// A WebDriver element reference (valid while its page is).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element(String);

impl Element {
    /// The WebDriver reference id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// The binary at `env` if set, else `default`; an error naming it if it is not there.
fn binary(env: &str, default: &str, what: &str) -> Result<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if !path.is_file() {
        bail!(
            "{what} not found at {} (set {env} to override): run `make setup-browser`",
            path.display()
        );
    }
    Ok(path)
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The full length of a response whose head is in `raw`, once the head is complete, if it
/// declares a `Content-Length`.
fn expected_len(raw: &[u8]) -> Option<usize> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let len = head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        match k.trim().eq_ignore_ascii_case("content-length") {
            true => v.trim().parse::<usize>().ok(),
            false => None,
        }
    })?;
    Some(end + len)
}

/// One HTTP exchange with the driver. ChromeDriver answers `Connection: close` but leaves the
/// socket open, so (unlike `http_client::send`, which reads to EOF) this stops reading once
/// `Content-Length` bytes of body have arrived, then parses with `http_client::parse`.
fn exchange(port: u16, method: &str, target: &str, body: &[u8]) -> Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let (mut raw, mut buf, mut want) = (Vec::new(), [0u8; 16 * 1024], None);
    while want.is_none_or(|n| raw.len() < n) {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        want = want.or_else(|| expected_len(&raw));
    }
    Ok(http_client::parse(&raw)?)
}

/// Sends one WebDriver command to the driver at `port` and returns the answer's `value`.
fn call(port: u16, method: &str, target: &str, body: Option<&Value>) -> Result<Value> {
    let bytes = match body {
        Some(v) => serde_json::to_vec(v)?,
        None => Vec::new(),
    };
    let response = exchange(port, method, target, &bytes)
        .with_context(|| format!("WebDriver {method} {target}"))?;
    let answer = response
        .json()
        .with_context(|| format!("WebDriver {method} {target} (HTTP {})", response.status))?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if response.status >= 400 {
        let field = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let message = field("message");
        return Err(WebDriverError {
            command: format!("{method} {target}"),
            error: field("error"),
            message: message.lines().next().unwrap_or("").to_owned(),
        }
        .into());
    }
    Ok(value)
}

/// The element reference in a WebDriver element answer.
fn element(value: &Value) -> Result<Element> {
    value
        .get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(|id| Element(id.to_owned()))
        .ok_or_else(|| anyhow!("not a WebDriver element: {value}"))
}

/// The string in a WebDriver answer.
fn string(value: Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => bail!("expected a string from WebDriver, got {other}"),
    }
}

/// Whether `e` is a WebDriver error a poll should retry (the element is not there yet, or
/// was replaced under us).
fn retryable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<WebDriverError>().is_some_and(|w| {
        matches!(
            w.error.as_str(),
            "no such element" | "stale element reference"
        )
    })
}

impl Browser {
    /// Starts ChromeDriver (`CHROMEDRIVER_BIN`, default `/usr/bin/chromedriver`) on a free
    /// 127.0.0.1 port, waits up to 10 s for it to report ready, and opens a headless Chromium
    /// session (`CHROMIUM_BIN`, default `/usr/bin/chromium`). The driver's output goes to
    /// `chromedriver-<port>.log` in the temp dir.
    pub fn start() -> Result<Browser> {
        let driver_bin = binary("CHROMEDRIVER_BIN", "/usr/bin/chromedriver", "chromedriver")?;
        let chromium_bin = binary("CHROMIUM_BIN", "/usr/bin/chromium", "chromium")?;
        let port = free_port()?;
        let log_path = std::env::temp_dir().join(format!("chromedriver-{port}.log"));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", driver_bin.display()))?;
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let log_note = || format!("(driver log: {})", log_path.display());
        browser.await_ready().with_context(log_note)?;
        browser.session = browser.new_session(&chromium_bin).with_context(log_note)?;
        Ok(browser)
    }

    /// Polls `GET /status` until the driver says it is ready.
    fn await_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.driver.try_wait()? {
                bail!("chromedriver exited during startup ({status})");
            }
            let last = match call(self.port, "GET", "/status", None) {
                Ok(v) if v["ready"] == Value::Bool(true) => return Ok(()),
                Ok(v) => v.to_string(),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!("chromedriver not ready after {STARTUP_TIMEOUT:?}; last: {last}");
            }
            sleep(POLL_INTERVAL);
        }
    }

    /// Opens a headless Chromium session and returns its id.
    fn new_session(&self, chromium: &Path) -> Result<String> {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1400,1000",
                        ],
                    },
                },
            },
        });
        let value = call(self.port, "POST", "/session", Some(&capabilities))
            .context("opening a Chromium session")?;
        value["sessionId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no sessionId in the new-session answer: {value}"))
    }

    /// Sends a command under this session (`path` starts with `/`).
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let target = format!("/session/{}{path}", self.session);
        call(self.port, method, &target, body)
    }

    /// POSTs `body` under this session.
    fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.cmd("POST", path, Some(&body))
    }

    /// GETs under this session.
    fn get(&self, path: &str) -> Result<Value> {
        self.cmd("GET", path, None)
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).map(drop)
    }

    /// The current page's URL.
    pub fn current_url(&self) -> Result<String> {
        string(self.get("/url")?)
    }

    /// The first element matching the CSS selector (an error if none does).
    pub fn find(&self, css: &str) -> Result<Element> {
        let by = json!({ "using": "css selector", "value": css });
        element(&self.post("/element", by)?)
    }

    /// Every element matching the CSS selector (possibly none).
    pub fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        let by = json!({ "using": "css selector", "value": css });
        match self.post("/elements", by)? {
            Value::Array(items) => items.iter().map(element).collect(),
            other => bail!("expected a list of elements, got {other}"),
        }
    }

    /// The first element under `parent` matching the CSS selector (an error if none does).
    pub fn find_in(&self, parent: &Element, css: &str) -> Result<Element> {
        let by = json!({ "using": "css selector", "value": css });
        element(&self.post(&format!("/element/{}/element", parent.0), by)?)
    }

    /// Clicks the element (scrolling it into view first).
    pub fn click(&self, el: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", el.0), json!({}))
            .map(drop)
    }

    /// The element's rendered text.
    pub fn text(&self, el: &Element) -> Result<String> {
        string(self.get(&format!("/element/{}/text", el.0))?)
    }

    /// The element's attribute `name`, or `None` if it has none.
    pub fn attribute(&self, el: &Element, name: &str) -> Result<Option<String>> {
        match self.get(&format!("/element/{}/attribute/{name}", el.0))? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Ok(Some(other.to_string())),
        }
    }

    /// The element's DOM property `name` (such as `value` or `checked`).
    pub fn property(&self, el: &Element, name: &str) -> Result<Value> {
        self.get(&format!("/element/{}/property/{name}", el.0))
    }

    /// Clears an input or textarea.
    pub fn clear(&self, el: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", el.0), json!({}))
            .map(drop)
    }

    /// Types `text` into the element (appending to what is there).
    pub fn type_text(&self, el: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", el.0), json!({ "text": text }))
            .map(drop)
    }

    /// Runs synchronous JS (`POST /execute/sync`) with `args` (available as `arguments[i]`),
    /// returning its value.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Accepts the open `window.confirm` / `alert` (`POST /alert/accept`).
    pub fn accept_alert(&self) -> Result<()> {
        self.post("/alert/accept", json!({})).map(drop)
    }

    /// The text of the open `window.confirm` / `alert`.
    pub fn alert_text(&self) -> Result<String> {
        string(self.get("/alert/text")?)
    }

    /// Polls `css` every 50 ms until an element matches, or fails after `timeout` saying what
    /// was awaited and the last error seen.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        self.poll_element(css, None, timeout)
    }

    /// Polls `css` every 50 ms until an element matches and its text contains `needle`, or
    /// fails after `timeout` saying what was awaited and the last text seen.
    pub fn wait_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<Element> {
        self.poll_element(css, Some(needle), timeout)
    }

    /// The loop behind `wait_for` and `wait_text`. Missing or stale elements are retried;
    /// any other error (a bad selector, a dead session) fails at once.
    fn poll_element(&self, css: &str, needle: Option<&str>, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.find(css).and_then(|el| match needle {
                None => Ok((el, None)),
                Some(_) => self.text(&el).map(|t| (el, Some(t))),
            });
            let last = match (seen, needle) {
                (Ok((el, None)), _) => return Ok(el),
                (Ok((el, Some(t))), Some(n)) if t.contains(n) => return Ok(el),
                (Ok((_, Some(t))), _) => format!("text {t:?}"),
                (Err(e), _) if retryable(&e) => format!("{e:#}"),
                (Err(e), _) => return Err(e.context(format!("waiting for `{css}`"))),
            };
            if Instant::now() >= deadline {
                let want = match needle {
                    Some(n) => format!("`{css}` with text containing {n:?}"),
                    None => format!("`{css}`"),
                };
                bail!("timed out after {timeout:?} waiting for {want}; last seen: {last}");
            }
            sleep(POLL_INTERVAL);
        }
    }

    /// Polls `f` every 50 ms until it returns `Ok(true)`, or fails after `timeout` naming
    /// `what` and the last result (errors from `f` are retried).
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Browser) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match f(self) {
                Ok(true) => return Ok(()),
                Ok(false) => "false".to_owned(),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting until {what}; last: {last}");
            }
            sleep(POLL_INTERVAL);
        }
    }

    /// Saves a PNG screenshot of the viewport to `path` (creating its parent dirs).
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let png =
            decode_base64(&string(self.get("/screenshot")?)?).context("decoding the screenshot")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// The browser's cookies for the current page, as WebDriver cookie objects (`name`,
    /// `value`, `httpOnly`, `sameSite`, ...).
    pub fn cookies(&self) -> Result<Vec<Value>> {
        match self.get("/cookie")? {
            Value::Array(items) => Ok(items),
            other => bail!("expected a list of cookies, got {other}"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let target = format!("/session/{}", self.session);
            let _ = call(self.port, "DELETE", &target, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The value of one standard-alphabet base64 digit.
fn base64_digit(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes standard-alphabet base64 (padding optional, ASCII whitespace ignored).
fn decode_base64(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = false;
    for (i, c) in text.bytes().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            padding = true;
            continue;
        }
        let digit = base64_digit(c).ok_or_else(|| anyhow!("bad base64 byte {c:#04x} at {i}"))?;
        if padding {
            bail!("base64 data after padding at {i}");
        }
        acc = (acc << 6) | u32::from(digit);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        bail!("truncated base64 (a lone final digit)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_the_standard_alphabet() {
        let cases: &[(&str, &[u8])] = &[
            ("", b""),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
            ("Zm9v\r\nYmFy", b"foobar"),
            ("Zm8", b"fo"),
            ("+/+/", &[0xfb, 0xff, 0xbf]),
            ("iVBORw0KGgo=", b"\x89PNG\r\n\x1a\n"),
        ];
        for (text, bytes) in cases {
            assert_eq!(decode_base64(text).unwrap(), *bytes, "{text}");
        }
        for bad in ["Zm9v!", "Zg==Zg", "Z", "Zm9vY"] {
            assert!(decode_base64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_end_at_their_content_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length:5\r\nConnection:close\r\n\r\n";
        assert_eq!(expected_len(&head[..20]), None);
        assert_eq!(expected_len(head), Some(head.len() + 5));
        assert_eq!(expected_len(b"HTTP/1.1 204 No Content\r\n\r\n"), None);
    }

    #[test]
    fn webdriver_errors_read_well() {
        let e = WebDriverError {
            command: "POST /session/s/element".into(),
            error: "no such element".into(),
            message: "Unable to locate element".into(),
        };
        let text = anyhow::Error::from(e.clone()).to_string();
        assert!(text.contains("POST /session/s/element") && text.contains("no such element"));
        assert!(retryable(&anyhow::Error::from(e)));
        assert!(!retryable(&anyhow!("connection refused")));
        let missing = binary(
            "E2E_WEBDRIVER_UNSET",
            "/nonexistent/chromedriver",
            "chromedriver",
        );
        let text = missing.unwrap_err().to_string();
        assert!(text.contains("/nonexistent/chromedriver"), "{text}");
        assert!(text.contains("run `make setup-browser`"), "{text}");
    }

    /// Drives the real headless Chromium (needs `make setup-browser`).
    #[test]
    fn chromium_renders_finds_and_screenshots() {
        let browser = Browser::start().unwrap();
        browser
            .goto("data:text/html,<title>t</title><p id=x class=c>hi</p><input id=i>")
            .unwrap();
        let x = browser.find("#x").unwrap();
        assert_eq!(browser.text(&x).unwrap(), "hi");
        assert_eq!(
            browser.attribute(&x, "class").unwrap().as_deref(),
            Some("c")
        );
        assert_eq!(browser.attribute(&x, "nope").unwrap(), None);
        assert!(browser.current_url().unwrap().starts_with("data:"));
        let input = browser.find("#i").unwrap();
        browser.type_text(&input, "abc").unwrap();
        assert_eq!(browser.property(&input, "value").unwrap(), json!("abc"));
        let sum = browser.execute("return arguments[0] + 1", vec![json!(41)]);
        assert_eq!(sum.unwrap(), json!(42));
        let missing = browser.find("#absent").unwrap_err().to_string();
        assert!(missing.contains("no such element"), "{missing}");
        let short = Duration::from_millis(200);
        let waited = browser.wait_text("#x", "bye", short).unwrap_err();
        assert!(waited.to_string().contains("\"hi\""), "{waited}");
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("shots/page.png");
        browser.screenshot(&png).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    }

    /// A loopback HTTP server answering every request with a page that sets an HttpOnly cookie.
    fn cookie_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.read(&mut [0u8; 4096]);
                let body = "<p id=x>cookie page</p>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nSet-Cookie: k=v; HttpOnly; SameSite=Strict\r\n\
                     Content-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}/")
    }

    /// Clicks, confirms, lists, clears, polls and reads cookies in the real headless Chromium.
    #[test]
    fn chromium_interacts_confirms_and_keeps_cookies() {
        let browser = Browser::start().unwrap();
        let page = "data:text/html,<ul><li>a</li><li>b</li></ul><input id=i value=old>\
            <button id=b onclick=\"if (confirm('sure?')) setTimeout(() => \
            document.getElementById('out').textContent = 'done', 100)\">go</button><p id=out></p>";
        browser.goto(page).unwrap();
        assert_eq!(browser.find_all("li").unwrap().len(), 2);
        assert!(browser.find_all("table").unwrap().is_empty());
        let list = browser.find("ul").unwrap();
        let last = browser.find_in(&list, "li:last-child").unwrap();
        assert_eq!(browser.text(&last).unwrap(), "b");
        let input = browser.find("#i").unwrap();
        browser.clear(&input).unwrap();
        assert_eq!(browser.property(&input, "value").unwrap(), json!(""));
        browser.click(&browser.find("#b").unwrap()).unwrap();
        assert_eq!(browser.alert_text().unwrap(), "sure?");
        browser.accept_alert().unwrap();
        let long = Duration::from_secs(5);
        let out = browser.wait_text("#out", "done", long).unwrap();
        assert_eq!(browser.text(&out).unwrap(), "done");
        let late = "setTimeout(() => { document.title = 'ready'; \
            document.body.append(Object.assign(document.createElement('i'), { id: 'late' })) }, 100)";
        browser.execute(late, vec![]).unwrap();
        browser.wait_for("#late", long).unwrap();
        let title = |b: &Browser| Ok(b.execute("return document.title", vec![])? == json!("ready"));
        browser.wait_until("the title is set", long, title).unwrap();
        let never = browser.wait_until("never", Duration::from_millis(100), |_| Ok(false));
        assert!(never.unwrap_err().to_string().contains("never"));
        browser.goto(&cookie_server()).unwrap();
        browser.wait_text("#x", "cookie", long).unwrap();
        let cookies = browser.cookies().unwrap();
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        assert_eq!(
            (&cookies[0]["name"], &cookies[0]["value"]),
            (&json!("k"), &json!("v"))
        );
        assert_eq!(cookies[0]["httpOnly"], json!(true));
        assert_eq!(cookies[0]["sameSite"], json!("Strict"));
    }
}
