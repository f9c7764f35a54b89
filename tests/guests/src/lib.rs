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
