//! The replay engine under arbitrary histories (mostly well-formed, sometimes not) and
//! arbitrary guest calls: it answers every call with a value or an error and never panics, and
//! whatever it appends continues the history without gaps.
#![no_main]

use durable_fuzz::engine::{Decision, Event, EventKind, Execution, WaitMode, arbitrary};
use durable_fuzz::ids::TaskId;
use libfuzzer_sys::fuzz_target;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: u8) -> u8 {
        self.next() % n
    }
}

fn kind(b: &mut Bytes) -> EventKind {
    arbitrary::event_kind(&mut |n| u64::from(b.next()) % n)
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mut history = Vec::new();
    let len = u64::from(b.below(40));
    for seq in 0..len {
        let seq = match b.below(32) {
            0 => seq + 1,
            1 => seq.saturating_sub(1),
            _ => seq,
        };
        let kind = if seq == 0 && b.below(8) != 0 {
            arbitrary::start()
        } else {
            kind(&mut b)
        };
        history.push(Event {
            seq,
            timestamp_ms: u64::from(b.next()),
            kind,
        });
    }
    let Ok(mut exec) = Execution::from_history("i", "e", history) else {
        return;
    };
    let base = exec.history_len();
    for _ in 0..b.below(48) {
        let name = ["a", "b", "E"][usize::from(b.below(3))];
        match b.below(9) {
            0 => {
                let _ = exec.decide(Decision::ScheduleActivity {
                    name: name.into(),
                    input: "{}".into(),
                });
            }
            1 => {
                let _ = exec.decide(Decision::CreateTimer { fire_at_ms: 9 });
            }
            2 => {
                let _ = exec.wait_for_event(name);
            }
            3 | 4 => {
                let tasks: Vec<TaskId> = (0..b.below(4))
                    .map(|_| TaskId(u32::from(b.below(8))))
                    .collect();
                let mode = if b.below(2) == 0 {
                    WaitMode::All
                } else {
                    WaitMode::Any
                };
                let _ = exec.poll(&tasks, mode);
            }
            5 => {
                let inbound = (0..b.below(3)).map(|_| kind(&mut b)).collect();
                let _ = exec.push_turn(u64::from(b.next()), inbound);
            }
            6 => {
                let _ = exec.new_guid();
            }
            7 => {
                let _ = exec.open_tasks();
            }
            _ => {
                let _ = exec.complete("1".into());
            }
        }
    }
    let added = exec.take_new_events();
    for (i, event) in added.iter().enumerate() {
        assert_eq!(
            event.seq,
            base + i as u64,
            "appended events must continue the history"
        );
    }
});
