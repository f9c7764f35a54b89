//! The host's notion of "now", injectable so time-dependent behaviour is testable without sleeping.

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// The system clock shifted by an offset that only grows: `durable serve --test-clock` uses it
/// so end-to-end tests can move time forward (timers, retries) without sleeping.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: std::sync::atomic::AtomicU64,
}

impl OffsetClock {
    /// Moves time forward by `ms`; returns the new offset.
    pub fn advance(&self, ms: u64) -> u64 {
        self.offset_ms
            .fetch_add(ms, std::sync::atomic::Ordering::SeqCst)
            + ms
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms() + self.offset_ms.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_clock_only_moves_forward_by_what_it_is_told() {
        let clock = OffsetClock::default();
        let before = SystemClock.now_ms();
        assert_eq!(clock.advance(3_600_000), 3_600_000);
        let now = clock.now_ms();
        assert!(
            now >= before + 3_600_000 && now < before + 3_660_000,
            "{now} vs {before}"
        );
    }
}
