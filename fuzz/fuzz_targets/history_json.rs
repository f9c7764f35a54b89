//! Stored history rows are JSON: any bytes either fail to decode or decode to events that
//! re-encode to the same value, and a decoded history is replayed or refused with a
//! `HistoryError`, never a panic.
#![no_main]

use durable_fuzz::engine::{Event, EventKind, Execution};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(kind) = serde_json::from_slice::<EventKind>(data) {
        let text = serde_json::to_string(&kind).expect("an event encodes");
        let back: EventKind = serde_json::from_str(&text).expect("an encoded event decodes");
        assert_eq!(back, kind);
    }
    if let Ok(history) = serde_json::from_slice::<Vec<Event>>(data)
        && let Ok(exec) = Execution::from_history("i", "e", history)
    {
        let _ = exec.open_tasks();
        let _ = exec.unconsumed_events();
        let _ = exec.is_replaying();
    }
});
