//! An activity's stdout/stderr: the first bytes are kept for the host's log, the rest is
//! counted and dropped. Writing never fails, so a chatty guest is never failed for its output
//! (wasmtime-wasi's `MemoryOutputPipe` closes the stream when full, and Rust's `println!`
//! then panics).

use std::sync::{Arc, Mutex};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: usize,
}

/// A capped capture pipe; clones share one buffer.
#[derive(Clone)]
pub struct CapturePipe {
    capacity: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl CapturePipe {
    pub fn new(capacity: usize) -> Self {
        CapturePipe {
            capacity,
            buffer: Arc::default(),
        }
    }

    /// What was kept, and how many bytes past the cap were dropped; empties the pipe (a
    /// reused instance starts its next call with nothing kept).
    pub fn take(&self) -> (Vec<u8>, usize) {
        let mut buffer = self.lock();
        let buffer = std::mem::take(&mut *buffer);
        (buffer.kept, buffer.dropped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A panic while holding this lock cannot leave the buffer inconsistent.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, bytes: &[u8]) {
        let mut buffer = self.lock();
        let room = self.capacity.saturating_sub(buffer.kept.len());
        let keep = bytes.len().min(room);
        buffer.kept.extend_from_slice(&bytes[..keep]);
        buffer.dropped += bytes.len() - keep;
    }
}

impl IsTerminal for CapturePipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturePipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturePipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for CapturePipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturePipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let mut pipe = CapturePipe::new(8);
        pipe.write(bytes::Bytes::from_static(b"hello ")).unwrap();
        pipe.write(bytes::Bytes::from_static(b"world!")).unwrap();
        assert_eq!(pipe.check_write().unwrap(), 64 * 1024, "always writable");
        assert_eq!(pipe.take(), (b"hello wo".to_vec(), 4));
        assert_eq!(pipe.take(), (Vec::new(), 0));
    }
}
