//! What the chaos tests share (`tests/chaos.rs` on SQLite, `tests/chaos_pg.rs` with three hosts
//! on PostgreSQL): the mix of work the clients start, a seeded random source, and the check
//! that every acknowledged instance ended with the right output.

use std::time::Duration;

use serde_json::json;

use crate::{Server, confirmation};

/// What a client started, to know what its output must be.
#[derive(Clone, Debug)]
pub enum Work {
    Order(String),
    FanOut,
    Approval,
}

/// A small xorshift generator: the same seed gives the same run.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `CHAOS_SEED`, or one made from the time (printed by the caller, to replay a run).
pub fn seed() -> u64 {
    env_or(
        "CHAOS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    )
}

/// The next piece of work: one in ten a fan-out, one in ten an approval waiting an hour for
/// its event, the rest seed orders with id `order_id`. Returns (starter path, body, work).
pub fn next_work(rng: &mut Rng, order_id: String) -> (String, String, Work) {
    match rng.below(10) {
        0 => (
            "/api/orchestrators/fanOutFanIn".to_owned(),
            "5".to_owned(),
            Work::FanOut,
        ),
        1 => (
            "/api/orchestrators/approvalWorkflow".to_owned(),
            r#"{"timeoutMs": 3600000}"#.to_owned(),
            Work::Approval,
        ),
        _ => {
            let body = json!({"orderId": order_id, "customerId": "c"}).to_string();
            (
                "/api/orchestrators/order-processing".to_owned(),
                body,
                Work::Order(order_id),
            )
        }
    }
}

/// Approves every acknowledged approval, then waits for each acknowledged instance: it must
/// have completed with its output. Returns how many orders, fan-outs and approvals there were.
pub fn check_outcomes(server: &Server, acked: &[(String, Work)]) -> [usize; 3] {
    for (id, work) in acked {
        if matches!(work, Work::Approval) {
            let code = server.raise(id, "Approval", r#""ok""#).unwrap();
            assert!(code == 202 || code == 410, "{id}: {code}");
        }
    }
    let mut counts = [0usize; 3];
    for (id, work) in acked {
        let s = server.wait_finished(id, Duration::from_secs(60)).unwrap();
        assert_eq!(s["runtimeStatus"], "Completed", "{id}: {s}");
        let (slot, expected) = match work {
            Work::Order(order_id) => (0, confirmation(order_id)),
            Work::FanOut => (1, json!(55)),
            Work::Approval => (2, json!("ok")),
        };
        counts[slot] += 1;
        assert_eq!(s["output"], expected, "{id}");
    }
    counts
}
