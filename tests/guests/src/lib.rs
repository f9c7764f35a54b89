//! Orchestrations that misbehave on purpose, for the end-to-end tests.
//!
//! Built twice by the Makefile: for `wasm32-unknown-unknown` (componentized into
//! `target/guests/test-orchestrator.wasm`, which the host accepts) and for `wasm32-wasip2`
//! (`target/guests/test-orchestrator-wasi.wasm`, which imports WASI — the wall clock among
//! others — and must be refused).

use durable_sdk::{Context, Error, Json};

durable_sdk::orchestrations! {
    "panicky" => panicky,
    "spin" => spin,
    "memoryBomb" => memory_bomb,
    "callsMissingActivity" => calls_missing_activity,
    "readsClock" => reads_clock,
    "waitsOnUnknownTask" => waits_on_unknown_task,
    "eventsAfterWork" => events_after_work,
    "callActivity" => call_activity,
    "hugeName" => huge_name,
    "parentOfCall" => parent_of_call,
    "burnPerTurn" => burn_per_turn,
    "childThenContinue" => child_then_continue,
    "entityOps" => entity_ops,
}

/// Runs entity operations in order (input: a list of `{"name","key","op","input","signal"}`):
/// signals go one-way, calls are awaited; returns the calls' answers, or fails with the first
/// failed call's message. With `"then": "continue"` on the last item's object, the
/// orchestration instead continues as new (on `null`) right after its signals.
pub fn entity_ops(ctx: &Context) -> Result<Json, Error> {
    let ops: Json = ctx.input()?;
    let mut answers = Vec::new();
    for op in ops.as_array().cloned().unwrap_or_default() {
        let field = |k: &str| op[k].as_str().unwrap_or_default().to_owned();
        let entity = durable_sdk::EntityId::new(field("name"), field("key"));
        if op["signal"].as_bool().unwrap_or(false) {
            ctx.signal_entity(&entity, &field("op"), &op["input"])?;
        } else {
            answers.push(ctx.call_entity::<_, Json>(&entity, &field("op"), &op["input"])?);
        }
        if op["then"] == "continue" {
            ctx.continue_as_new(&Json::Null)?;
            return Ok(Json::Null);
        }
    }
    Ok(Json::Array(answers))
}

/// Asks the host for something over its limits (`{"what": .., "len": ..}`): a name of `len`
/// bytes for an event, an activity or a child, or a custom status of `len` bytes.
pub fn huge_name(ctx: &Context) -> Result<Json, Error> {
    let request: Json = ctx.input()?;
    let len = request["len"].as_u64().unwrap_or(0) as usize;
    let big = "x".repeat(len);
    match request["what"].as_str().unwrap_or_default() {
        "event" => ctx.wait(ctx.wait_for_event::<Json>(&big)),
        "activity" => ctx.call_activity(&big, &Json::Null),
        "child" => ctx.call_sub_orchestration(&big, None, &Json::Null),
        _ => {
            ctx.set_custom_status(&big)?;
            ctx.wait(ctx.wait_for_event::<Json>("never"))
        }
    }
}

/// Runs `callActivity` (same input) as a sub-orchestration with a default id: a parent whose
/// child fails when its activity does.
pub fn parent_of_call(ctx: &Context) -> Result<Json, Error> {
    let request: Json = ctx.input()?;
    ctx.call_sub_orchestration("callActivity", None, &request)
}

/// `turns` times: wait for a `tick` event, then burn `burn` loop iterations. Each turn uses a
/// good part of a small fuel budget, so a replay of all of them on one budget would run out.
pub fn burn_per_turn(ctx: &Context) -> Result<u64, Error> {
    let request: Json = ctx.input()?;
    let turns = request["turns"].as_u64().unwrap_or(1);
    let burn = request["burn"].as_u64().unwrap_or(0);
    let mut x = 1u64;
    for _ in 0..turns {
        ctx.wait(ctx.wait_for_event::<Json>("tick"))?;
        for _ in 0..burn {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    Ok(turns)
}

/// Starts an `echo` child with a default id, then continues as new `n` times: every execution
/// has a child at the same task number.
pub fn child_then_continue(ctx: &Context) -> Result<u64, Error> {
    let n: u64 = ctx.input()?;
    let _: Json = ctx.call_sub_orchestration("echo", None, &n)?;
    if n == 0 {
        return Ok(0);
    }
    ctx.continue_as_new(&(n - 1))?;
    Ok(n)
}

/// Calls the activity named in the input (`{"name": .., "input": ..}`) and returns its output.
pub fn call_activity(ctx: &Context) -> Result<Json, Error> {
    let request: Json = ctx.input()?;
    let name = request["name"].as_str().unwrap_or_default().to_owned();
    ctx.call_activity(&name, &request["input"])
}

/// Does some work, then takes two `E` events: they may well have arrived before the waits.
pub fn events_after_work(ctx: &Context) -> Result<Vec<Json>, Error> {
    let greeting: Json = ctx.call_activity("sayHello", "work")?;
    let first: Json = ctx.wait(ctx.wait_for_event("E"))?;
    let second: Json = ctx.wait(ctx.wait_for_event("E"))?;
    Ok(vec![greeting, first, second])
}

/// Waits on a task id that was never handed out: the host answers with an error, not a crash.
pub fn waits_on_unknown_task(ctx: &Context) -> Result<Json, Error> {
    ctx.wait_all(&[99])?;
    Ok(Json::Null)
}

/// Panics with a recognisable message.
pub fn panicky(ctx: &Context) -> Result<Json, Error> {
    let input: Json = ctx.input()?;
    panic!("the guest panicked on purpose (input {input})");
}

/// Never returns: must be stopped by the fuel budget.
pub fn spin(ctx: &Context) -> Result<Json, Error> {
    let mut x: u64 = ctx.input::<u64>().unwrap_or(1);
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        if x == 42 {
            return Ok(Json::from(x));
        }
    }
}

/// Allocates until the memory cap stops it.
pub fn memory_bomb(_ctx: &Context) -> Result<Json, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// Calls an activity no component provides.
pub fn calls_missing_activity(ctx: &Context) -> Result<Json, Error> {
    ctx.call_activity("noSuchActivity", &Json::Null)
}

/// Reads the wall clock. On wasm32-wasip2 this imports `wasi:clocks/wall-clock`, which the host
/// must refuse for an orchestrator; on wasm32-unknown-unknown it would trap.
pub fn reads_clock(_ctx: &Context) -> Result<Json, Error> {
    #[cfg(target_os = "wasi")]
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Json::from(now))
    }
    #[cfg(not(target_os = "wasi"))]
    Err(Error::new(
        "readsClock only reads the clock when built for wasm32-wasip2",
    ))
}
