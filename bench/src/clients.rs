//! The load generator's clients: keep-alive HTTP/1.1 connections, and N of them sharing a
//! numbered set of work items.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, anyhow};

/// A keep-alive HTTP/1.1 connection.
pub struct Conn {
    addr: String,
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn connect(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            addr: addr.to_owned(),
            reader: BufReader::new(stream),
        })
    }

    pub fn request(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.reader.get_mut().write_all(req.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse()?;
            }
        }
        let mut buf = vec![0u8; length];
        self.reader.read_exact(&mut buf)?;
        Ok((status, String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// `concurrency` keep-alive clients share the items `0..n` (client `c` talks to
/// `addrs[c % addrs.len()]`): each takes the next item and runs `item` on it, until none are
/// left. Returns what the items measured (their `Some` values), in no particular order.
pub fn run_clients<F>(addrs: &[String], n: usize, concurrency: usize, item: F) -> Result<Vec<f64>>
where
    F: Fn(&mut Conn, usize) -> Result<Option<f64>> + Send + Sync + 'static,
{
    let item = Arc::new(item);
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..concurrency)
        .map(|c| {
            let addr = addrs[c % addrs.len()].clone();
            let (next, item) = (Arc::clone(&next), Arc::clone(&item));
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut conn = Conn::connect(&addr)?;
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(out);
                    }
                    out.extend(item(&mut conn, i)?);
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.join().map_err(|_| anyhow!("client panicked"))??);
    }
    Ok(all)
}
