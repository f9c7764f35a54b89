//! The seed app's orchestrations, plus Durable Functions' classic patterns, as one component.
//!
//! Built for `wasm32-unknown-unknown` and wrapped into a component by `tools/componentize`, so it
//! imports nothing but the host's `context` interface: no clock, randomness, network or files.
//! Every function here also runs natively under `durable_sdk::testing::TestHost` (see the tests).

use durable_sdk::{Context, Error, Json, LogLevel, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::json;

durable_sdk::orchestrations! {
    "orderProcessingOrchestrator" => order_processing,
    "echo" => echo,
    "helloSequence" => hello_sequence,
    "fanOutFanIn" => fan_out_fan_in,
    "approvalWorkflow" => approval_workflow,
    "monitor" => monitor,
    "orderBatch" => order_batch,
    "retryingCall" => retrying_call,
    "sequence" => sequence,
    "versionInfo" => version_info,
    "counterWorkflow" => counter_workflow,
}

/// Durable Functions' entity sample from an orchestrator: signals the `Counter` entity with key
/// `key` to add `amount` (one-way), then calls `add` again and `get` and returns both answers:
/// `{"afterAdd": n, "value": n}`. Operations from one orchestration reach the entity in order,
/// so both see the signal's addition.
pub fn counter_workflow(ctx: &Context) -> Result<Json, Error> {
    let input: Json = ctx.input()?;
    let key = input["key"].as_str().unwrap_or("default").to_owned();
    let amount = input["amount"].as_i64().unwrap_or(1);
    let counter = durable_sdk::EntityId::new("Counter", key);
    ctx.signal_entity(&counter, "add", &amount)?;
    let after_add: i64 = ctx.call_entity(&counter, "add", &amount)?;
    let value: i64 = ctx.call_entity(&counter, "get", &())?;
    ctx.log(
        durable_sdk::LogLevel::Info,
        format!("counter {} is at {value}", counter.key),
    );
    Ok(json!({"afterAdd": after_add, "value": value}))
}

/// The instance's orchestration version, and (input `depth` > 0) that of a sub-orchestration
/// it starts, which inherits it: `{"version": "2.0", "child": {...}}`.
pub fn version_info(ctx: &Context) -> Result<Json, Error> {
    let depth: u32 = ctx.input::<Option<u32>>()?.unwrap_or(0);
    let child = match depth {
        0 => None,
        d => Some(ctx.call_sub_orchestration::<_, Json>("versionInfo", None, &(d - 1))?),
    };
    Ok(json!({"version": ctx.version(), "child": child}))
}

/// `n` activity calls one after the other (input: `n`); returns the sum of their outputs. Used by
/// the benchmark to measure per-step cost as the history grows.
pub fn sequence(ctx: &Context) -> Result<u64, Error> {
    let n: u64 = ctx.input()?;
    let mut sum = 0u64;
    for i in 0..n {
        sum = sum.wrapping_add(ctx.call_activity::<_, u64>("square", &(i % 1000))?);
    }
    Ok(sum)
}

/// The seed's workflow: validate, reserve, confirm. Reads like the JavaScript generator.
pub fn order_processing(ctx: &Context) -> Result<Json, Error> {
    let input: Json = ctx.input()?;
    ctx.log(
        LogLevel::Info,
        format!("validating order {}", input["orderId"]),
    );
    let validated: Json = ctx.call_activity("validateOrder", &input)?;
    ctx.log(LogLevel::Info, "order valid: reserving inventory");
    let inventory: Json = ctx.call_activity("reserveInventory", &validated)?;
    ctx.log(
        LogLevel::Info,
        "inventory reserved: emitting the confirmation",
    );
    let confirmation: Json = ctx.call_activity("emitConfirmation", &inventory)?;
    Ok(confirmation)
}

/// Completes with its input unchanged.
pub fn echo(ctx: &Context) -> Result<Json, Error> {
    ctx.input()
}

/// Function chaining: three greetings, one after the other.
pub fn hello_sequence(ctx: &Context) -> Result<Vec<String>, Error> {
    let mut greetings = Vec::new();
    for city in ["Tokyo", "Seattle", "London"] {
        greetings.push(ctx.call_activity("sayHello", city)?);
    }
    Ok(greetings)
}

/// Fan-out/fan-in: `n` activities in parallel (input: `n`, default 10), then the sum.
pub fn fan_out_fan_in(ctx: &Context) -> Result<u64, Error> {
    let n: u64 = ctx.input::<Option<u64>>()?.unwrap_or(10);
    let tasks = (1..=n)
        .map(|i| ctx.schedule_activity::<_, u64>("square", &i))
        .collect::<Result<Vec<_>, _>>()?;
    let squares = ctx.wait_all_typed(&tasks)?;
    Ok(squares.iter().sum())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalInput {
    /// How long to wait for the `Approval` event, ms (default one day).
    timeout_ms: Option<u64>,
}

/// Human interaction: waits for the `Approval` event or a timeout, whichever comes first. The
/// event's data is the output; a timeout fails the instance with "approval timed out".
pub fn approval_workflow(ctx: &Context) -> Result<Json, Error> {
    let input: ApprovalInput = ctx.input()?;
    let timeout_ms = input.timeout_ms.unwrap_or(24 * 60 * 60 * 1000);
    if cfg!(feature = "v2") {
        let _: String = ctx.call_activity("sayHello", "approver")?;
    }
    ctx.set_custom_status("waiting for approval")?;
    let approval = ctx.wait_for_event::<Json>("Approval");
    let deadline = ctx.create_timer_after(timeout_ms);
    let (winner, outcome) = ctx.wait_any(&[approval.id, deadline.id])?;
    if winner == 0 {
        ctx.set_custom_status("approved")?;
        approval.decode(outcome)
    } else {
        ctx.set_custom_status("timed out")?;
        Err(Error::new(format!(
            "approval timed out after {timeout_ms} ms"
        )))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorState {
    /// Polls made so far.
    pub round: u32,
    /// The status check reports done from this round on.
    pub target: u32,
    /// Delay between polls, ms.
    pub interval_ms: u64,
}

/// Monitor: polls `checkStatus` on a timer, one poll per execution (continue-as-new keeps the
/// history bounded), until the check says done.
pub fn monitor(ctx: &Context) -> Result<Json, Error> {
    let state: MonitorState = ctx.input()?;
    let status: Json = ctx.call_activity(
        "checkStatus",
        &json!({"round": state.round, "target": state.target}),
    )?;
    if status["done"] == json!(true) {
        return Ok(json!({"rounds": state.round + 1}));
    }
    ctx.set_custom_status(&json!({"round": state.round}))?;
    ctx.wait(ctx.create_timer_after(state.interval_ms))?;
    ctx.continue_as_new(&MonitorState {
        round: state.round + 1,
        ..state
    })?;
    Ok(Json::Null)
}

/// Sub-orchestrations: runs the seed workflow for every order of a batch, in parallel, as
/// children with deterministic ids (`<batch id>:<task>`).
pub fn order_batch(ctx: &Context) -> Result<Vec<Json>, Error> {
    let orders: Vec<Json> = ctx.input()?;
    let children = orders
        .iter()
        .map(|order| {
            ctx.schedule_sub_orchestration::<_, Json>("orderProcessingOrchestrator", None, order)
        })
        .collect::<Result<Vec<_>, _>>()?;
    ctx.wait_all_typed(&children)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryInput {
    activity: String,
    max_attempts: u32,
    first_retry_interval_ms: u64,
    #[serde(default)]
    input: Json,
}

/// Calls an activity with a retry policy taken from the input (to show retries and refusals).
pub fn retrying_call(ctx: &Context) -> Result<Json, Error> {
    let input: RetryInput = ctx.input()?;
    let policy = RetryPolicy {
        backoff_coefficient: 2.0,
        ..RetryPolicy::new(input.max_attempts, input.first_retry_interval_ms)
    };
    ctx.call_activity_with_retry(&input.activity, &input.input, &policy)
}

#[cfg(test)]
mod tests {
    //! The orchestrations, unit-tested natively against scripted activities: no host, no wasm.
    use super::*;
    use durable_sdk::testing::{Decision, TestHost};

    #[test]
    fn order_processing_chains_the_three_activities() {
        let run = TestHost::new(json!({"orderId": "A", "customerId": "C"}))
            .activity("validateOrder", Ok)
            .activity("reserveInventory", |mut o| {
                o["inventoryReservationId"] = json!("A-inv");
                Ok(o)
            })
            .activity("emitConfirmation", |o| {
                Ok(json!({"orderId": o["orderId"], "reservationId": o["inventoryReservationId"], "status": "Confirmed"}))
            })
            .run(order_processing);
        assert_eq!(
            run.activity_calls(),
            ["validateOrder", "reserveInventory", "emitConfirmation"]
        );
        assert_eq!(
            run.output(),
            &json!({"orderId": "A", "reservationId": "A-inv", "status": "Confirmed"})
        );
    }

    #[test]
    fn counter_workflow_signals_then_calls_the_entity_in_order() {
        let counter = |ctx: &mut durable_sdk::EntityContext| -> Result<Json, Error> {
            let value: i64 = ctx.state_or(|| 10)?;
            let value = match ctx.operation() {
                "add" => value + ctx.input::<i64>()?,
                _ => value,
            };
            ctx.set_state(&value)?;
            Ok(json!(value))
        };
        let run = TestHost::new(json!({"key": "k", "amount": 5}))
            .entity("Counter", counter)
            .run(counter_workflow);
        assert_eq!(run.output(), &json!({"afterAdd": 20, "value": 20}));
        let calls: Vec<(&str, bool)> = run
            .decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Entity {
                    operation, call, ..
                } => Some((operation.as_str(), *call)),
                _ => None,
            })
            .collect();
        assert_eq!(calls, [("add", false), ("add", true), ("get", true)]);
        assert_eq!(run.entity_state("counter", "k"), Some(&json!(20)));
    }

    #[test]
    fn a_failed_validation_stops_the_chain() {
        let run = TestHost::new(json!({"orderId": "A"}))
            .activity("validateOrder", |_| {
                Err(Error::new("orderId and customerId are required."))
            })
            .run(order_processing);
        assert_eq!(run.activity_calls(), ["validateOrder"]);
        assert_eq!(
            run.result.unwrap_err().message,
            "Activity function 'validateOrder' failed: orderId and customerId are required."
        );
    }

    #[test]
    fn the_version_is_what_the_host_says() {
        let run = TestHost::new(json!(0)).version("2.1").run(version_info);
        assert_eq!(run.output(), &json!({"version": "2.1", "child": null}));
        let run = TestHost::new(json!(0)).run(version_info);
        assert_eq!(run.output()["version"], Json::Null);
    }

    #[test]
    fn fan_out_schedules_everything_before_waiting() {
        let run = TestHost::new(json!(4))
            .activity("square", |n| Ok(json!(n.as_u64().unwrap().pow(2))))
            .run(fan_out_fan_in);
        assert_eq!(run.output(), &json!(1 + 4 + 9 + 16));
        assert_eq!(run.activity_calls().len(), 4);
    }

    #[test]
    fn approval_takes_the_event_or_times_out() {
        let approved = TestHost::new(json!({}))
            .event("Approval", json!({"by": "ann"}))
            .run(approval_workflow);
        assert_eq!(approved.output(), &json!({"by": "ann"}));
        assert_eq!(approved.custom_status, Some(json!("approved")));
        let late = TestHost::new(json!({"timeoutMs": 5000}))
            .at(0)
            .run(approval_workflow);
        assert!(
            late.result
                .unwrap_err()
                .message
                .contains("timed out after 5000 ms")
        );
        assert_eq!(late.final_time_ms, 5000);
    }

    #[test]
    fn monitor_continues_as_new_until_done() {
        let input = json!({"round": 0, "target": 2, "intervalMs": 1000});
        let run = TestHost::new(&input)
            .activity("checkStatus", |s| {
                Ok(json!({"done": s["round"].as_u64() >= s["target"].as_u64()}))
            })
            .run(monitor);
        assert_eq!(
            run.continued_as_new,
            Some(json!({"round": 1, "target": 2, "intervalMs": 1000}))
        );
        assert!(run.decisions.contains(&Decision::Timer {
            fire_at_ms: 1_700_000_001_000
        }));
        let last = TestHost::new(json!({"round": 2, "target": 2, "intervalMs": 1000}))
            .activity("checkStatus", |_| Ok(json!({"done": true})))
            .run(monitor);
        assert_eq!(last.output(), &json!({"rounds": 3}));
        assert_eq!(last.continued_as_new, None);
    }

    #[test]
    fn a_batch_runs_one_child_per_order() {
        let run = TestHost::new(json!([{"orderId": "1"}, {"orderId": "2"}]))
            .sub_orchestration("orderProcessingOrchestrator", |o| {
                Ok(json!({"orderId": o["orderId"]}))
            })
            .run(order_batch);
        assert_eq!(run.output(), &json!([{"orderId": "1"}, {"orderId": "2"}]));
    }
}
