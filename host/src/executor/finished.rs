//! Finished instances' rows in memory, so status reads of them (dashboards, clients polling an
//! instance again and again) are answered without a store read.
//!
//! Only finished rows are kept: they change only when the instance is purged, rewound or
//! replaced by a new instance under its id, and each of those goes through the executor, which
//! [`FinishedRows::forget`]s the id after its commit and before it answers. A row read from the
//! store (or committed by the instance's end) is kept only if no such change of that id
//! happened meanwhile ([`FinishedRows::generation`] before the read or commit, checked in
//! [`FinishedRows::keep`] against the latest forgets), so a read that raced a purge cannot put
//! the purged row back. With a store other hosts share, other hosts change rows too: no cache then.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ids::InstanceId;
use crate::store::Instance;

/// Rows kept at most (the oldest kept goes first).
const CAPACITY: usize = 10_000;

/// The latest forgets remembered (generation and id), so a row read while other instances'
/// rows were forgotten can still be kept; beyond these, any forget refuses it.
const FORGETS: usize = 1_024;

#[derive(Default)]
struct Rows {
    by_id: HashMap<InstanceId, Arc<Instance>>,
    /// Insertion order, for eviction (ids forgotten meanwhile are skipped).
    order: VecDeque<InstanceId>,
    /// The latest forgets: the generation each made, and its id.
    forgets: VecDeque<(u64, InstanceId)>,
}

impl Rows {
    /// Whether `id` may have been forgotten after `generation` (the current one is `now`).
    fn forgotten_since(&self, id: &InstanceId, generation: u64, now: u64) -> bool {
        if now == generation {
            return false;
        }
        match self.forgets.front() {
            // Every forget after `generation` is still recorded: was one of them `id`'s?
            Some((oldest, _)) if *oldest <= generation + 1 => self
                .forgets
                .iter()
                .any(|(g, forgotten)| *g > generation && forgotten == id),
            _ => true,
        }
    }
}

/// See the module's docs.
pub struct FinishedRows {
    enabled: bool,
    rows: Mutex<Rows>,
    /// Bumped by every [`FinishedRows::forget`].
    generation: AtomicU64,
}

impl FinishedRows {
    pub fn new(enabled: bool) -> Self {
        FinishedRows {
            enabled,
            rows: Mutex::new(Rows::default()),
            generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Rows> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The finished row of `id`, if kept.
    pub fn get(&self, id: &InstanceId) -> Option<Arc<Instance>> {
        if !self.enabled {
            return None;
        }
        self.lock().by_id.get(id).cloned()
    }

    /// Read before reading a row from the store; hand it to [`FinishedRows::keep`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `row` if it is finished and nothing was forgotten since `generation`.
    pub fn keep(&self, row: &Instance, generation: u64) {
        if !self.enabled || !row.status.is_terminal() {
            return;
        }
        let mut rows = self.lock();
        // Checked under the lock `forget` bumps it under: no forget slips in between.
        let now = self.generation.load(Ordering::Acquire);
        if rows.forgotten_since(&row.instance_id, generation, now) {
            return;
        }
        let id = row.instance_id.clone();
        if rows
            .by_id
            .insert(id.clone(), Arc::new(row.clone()))
            .is_none()
        {
            rows.order.push_back(id);
        }
        while rows.by_id.len() > CAPACITY {
            match rows.order.pop_front() {
                Some(oldest) => rows.by_id.remove(&oldest),
                None => break,
            };
        }
    }

    /// `id`'s row changed (or may have): drop it, and refuse rows read before now.
    pub fn forget(&self, id: &InstanceId) {
        if !self.enabled {
            return;
        }
        let mut rows = self.lock();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        rows.by_id.remove(id);
        rows.forgets.push_back((generation, id.clone()));
        if rows.forgets.len() > FORGETS {
            rows.forgets.pop_front();
        }
        if rows.order.len() > 2 * CAPACITY {
            // Forgotten ids left in the order queue: rebuild it from what is kept.
            let Rows { by_id, order, .. } = &mut *rows;
            order.retain(|id| by_id.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RuntimeStatus;

    fn row(id: &str, status: RuntimeStatus) -> Instance {
        Instance {
            instance_id: InstanceId::parse(id).unwrap(),
            execution_id: crate::ids::ExecutionId::random(),
            name: "o".into(),
            status,
            input: "null".into(),
            output: None,
            custom_status: None,
            orchestrator_digest: "d".into(),
            created_ms: 1,
            updated_ms: 1,
            parent: None,
            version: None,
        }
    }

    #[test]
    fn only_finished_rows_read_before_no_change_are_kept() {
        let rows = FinishedRows::new(true);
        let done = row("a", RuntimeStatus::Completed);
        let g = rows.generation();
        rows.keep(&row("r", RuntimeStatus::Running), g);
        assert!(rows.get(&done.instance_id).is_none());
        assert!(
            rows.get(&InstanceId::parse("r").unwrap()).is_none(),
            "running: not kept"
        );
        rows.keep(&done, g);
        assert_eq!(
            rows.get(&done.instance_id).unwrap().status,
            RuntimeStatus::Completed
        );

        // A purge commits between someone's read and their keep: the stale row stays out.
        let g = rows.generation();
        rows.forget(&done.instance_id);
        rows.keep(&done, g);
        assert!(rows.get(&done.instance_id).is_none());

        // Other instances' forgets meanwhile (starts reuse ids all the time) do not stop it...
        let g = rows.generation();
        rows.forget(&InstanceId::parse("other").unwrap());
        rows.keep(&done, g);
        assert!(rows.get(&done.instance_id).is_some());
        // ...unless more of them came than are remembered.
        let g = rows.generation();
        rows.forget(&done.instance_id);
        for i in 0..FORGETS {
            rows.forget(&InstanceId::parse(&format!("o{i}")).unwrap());
        }
        rows.keep(&done, g);
        assert!(rows.get(&done.instance_id).is_none());
    }

    #[test]
    fn the_oldest_rows_go_first_and_off_means_off() {
        let rows = FinishedRows::new(true);
        for i in 0..CAPACITY + 5 {
            rows.keep(
                &row(&format!("i{i}"), RuntimeStatus::Failed),
                rows.generation(),
            );
        }
        assert!(rows.get(&InstanceId::parse("i0").unwrap()).is_none());
        assert!(
            rows.get(&InstanceId::parse(&format!("i{}", CAPACITY + 4)).unwrap())
                .is_some()
        );
        let off = FinishedRows::new(false);
        let done = row("a", RuntimeStatus::Completed);
        off.keep(&done, off.generation());
        assert!(off.get(&done.instance_id).is_none());
    }
}
