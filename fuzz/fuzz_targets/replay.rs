//! The replay engine under arbitrary histories (mostly well-formed, sometimes not) and
//! arbitrary guest calls: it answers every call with a value or an error and never panics, and
//! whatever it appends continues the history without gaps.
#![no_main]

use durable_fuzz::engine::{Decision, Event, EventKind, Execution, WaitMode};
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
    let task_id = u32::from(b.below(6));
    let name = ["a", "b", "E"][usize::from(b.below(3))].to_owned();
    match b.below(16) {
        0 => EventKind::OrchestratorStarted,
        1 => EventKind::TaskScheduled {
            task_id,
            name,
            input: "1".into(),
        },
        2 => EventKind::TaskCompleted {
            task_id,
            result: "2".into(),
            digest: None,
        },
        3 => EventKind::TaskFailed {
            task_id,
            reason: "no".into(),
            details: None,
            digest: None,
        },
        4 => EventKind::TimerCreated {
            task_id,
            fire_at_ms: 5,
        },
        5 => EventKind::TimerFired {
            task_id,
            fire_at_ms: 5,
        },
        6 => EventKind::EventRaised {
            name,
            input: "3".into(),
        },
        7 => EventKind::SubOrchestrationInstanceCreated {
            task_id,
            name,
            instance_id: "c".into(),
            input: "4".into(),
        },
        8 => EventKind::SubOrchestrationInstanceCompleted {
            task_id,
            result: "5".into(),
        },
        9 => EventKind::SubOrchestrationInstanceFailed {
            task_id,
            reason: "child".into(),
            details: None,
        },
        10 => EventKind::ExecutionCompleted { result: "6".into() },
        11 => EventKind::ExecutionFailed {
            reason: "x".into(),
            details: None,
        },
        12 => EventKind::ExecutionSuspended {
            reason: String::new(),
        },
        13 => EventKind::ExecutionResumed {
            reason: String::new(),
        },
        14 => EventKind::ExecutionRewound {
            reason: String::new(),
            voided: (0..b.below(4)).map(|_| u64::from(b.below(40))).collect(),
        },
        _ => EventKind::ExecutionStarted {
            name: "o".into(),
            input: "null".into(),
            orchestrator_digest: "d".into(),
        },
    }
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
            EventKind::ExecutionStarted {
                name: "o".into(),
                input: "null".into(),
                orchestrator_digest: "d".into(),
            }
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
                let tasks: Vec<u32> = (0..b.below(4)).map(|_| u32::from(b.below(8))).collect();
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
                let _ = exec.complete(Ok("1".into()));
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
