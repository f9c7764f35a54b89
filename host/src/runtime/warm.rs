//! Instances kept between calls, for components whose calls may share an instance (a JS app's
//! activities and HTTP functions, as in Node, where every invocation runs in one process).
//!
//! A fresh instance of a snapshotted JS runtime pays for its first call: the JS engine touches
//! megabytes of the snapshot's heap, each page a copy-on-write fault, and unmapping them again
//! costs TLB shootdowns on every core. Measured on the seed's activities (one at a time, 2-core
//! machine): ~600–900 µs per call in a fresh instance, ~150–300 µs in a reused one.
//!
//! Only an instance whose call ended normally (a result, or an error the guest returned) goes
//! back; one that trapped, ran out of time or hit its memory cap is dropped. An instance is
//! retired after [`MAX_CALLS`] calls, so what a long-lived guest leaks stays bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Calls one instance may serve before it is dropped and a fresh one takes its place.
pub(crate) const MAX_CALLS: u32 = 10_000;

/// Idle instances of one component, capped per component and by a budget shared by all the
/// components of a sandbox (idle instances hold slots of its pooling allocator).
pub(crate) struct WarmPool<T> {
    idle: Mutex<Vec<Warm<T>>>,
    cap: usize,
    budget: Arc<AtomicUsize>,
}

/// An idle instance and the calls it has served.
pub(crate) struct Warm<T> {
    pub value: T,
    pub calls: u32,
}

impl<T> WarmPool<T> {
    /// `budget` counts the idle instances that may still be kept, across the components that
    /// share it.
    pub fn new(cap: usize, budget: Arc<AtomicUsize>) -> Self {
        WarmPool {
            idle: Mutex::new(Vec::new()),
            cap,
            budget,
        }
    }

    /// An idle instance, the most recently used first (its pages are the likeliest in cache).
    pub fn take(&self) -> Option<Warm<T>> {
        let warm = self.lock().pop()?;
        self.budget.fetch_add(1, Ordering::Relaxed);
        Some(warm)
    }

    /// Keeps `warm` for a later call, unless it is retired, this component has `cap` idle
    /// already, or the shared budget is spent (then it is dropped).
    pub fn give_back(&self, warm: Warm<T>) {
        if warm.calls >= MAX_CALLS {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= self.cap {
            return;
        }
        let reserved = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if reserved.is_ok() {
            idle.push(warm);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm<T>>> {
        // Pushing and popping cannot leave the list inconsistent if a holder panicked.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Drop for WarmPool<T> {
    fn drop(&mut self) {
        let idle = self.lock().len();
        self.budget.fetch_add(idle, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warm(value: u32, calls: u32) -> Warm<u32> {
        Warm { value, calls }
    }

    #[test]
    fn keeps_up_to_its_cap_and_hands_back_the_latest_first() {
        let budget = Arc::new(AtomicUsize::new(10));
        let pool = WarmPool::new(2, budget.clone());
        for v in 1..=3 {
            pool.give_back(warm(v, 1));
        }
        assert_eq!(budget.load(Ordering::Relaxed), 8, "the third was dropped");
        assert_eq!(pool.take().map(|w| w.value), Some(2));
        assert_eq!(pool.take().map(|w| w.value), Some(1));
        assert!(pool.take().is_none());
        assert_eq!(budget.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn the_shared_budget_bounds_all_pools_and_returns_on_drop() {
        let budget = Arc::new(AtomicUsize::new(3));
        let a = WarmPool::new(8, budget.clone());
        let b = WarmPool::new(8, budget.clone());
        a.give_back(warm(1, 1));
        a.give_back(warm(2, 1));
        b.give_back(warm(3, 1));
        b.give_back(warm(4, 1));
        assert_eq!(budget.load(Ordering::Relaxed), 0);
        assert_eq!(b.take().map(|w| w.value), Some(3), "4 found no budget");
        drop(a);
        assert_eq!(budget.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn retires_an_instance_after_its_last_call() {
        let budget = Arc::new(AtomicUsize::new(4));
        let pool = WarmPool::new(4, budget);
        pool.give_back(warm(1, MAX_CALLS));
        assert!(pool.take().is_none());
    }
}
