//! Orchestrator role: `durable:engine/context` is the only import; Date and `Math.random` are
//! replay-safe (the turn's time from the history, a PRNG seeded from a deterministic GUID).

use rquickjs::prelude::Coerced;
use rquickjs::{Array, Ctx, Function, Object, Value};

use crate::engine::{self, Failure, thrown};

/// wit-bindgen's canonical-ABI glue; generated, not hand-written.
#[allow(unsafe_code)]
#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "js-orchestrator",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "crate::orchestrator::bindings",
    });
}

#[allow(unsafe_code)]
mod export {
    use super::Runtime;
    crate::orchestrator::bindings::export!(Runtime);
}

use bindings::durable::engine::context as host;
use bindings::durable::engine::types::{self, LogLevel, Outcome};

struct Runtime;

impl bindings::exports::durable::engine::js_app::Guest for Runtime {
    fn load(path: String, source: String) -> Result<(), types::Failure> {
        let role = (
            "durable-wasm:orchestrator.js",
            include_str!("../js/orchestrator.js"),
        );
        crate::load(install, role, (&path, &source)).map_err(to_wit)
    }
}

impl bindings::exports::durable::engine::orchestrations::Guest for Runtime {
    fn names() -> Vec<String> {
        crate::names().unwrap_or_default()
    }

    fn run(name: String, input: String) -> Result<String, types::Failure> {
        engine::with(|ctx| {
            let out = engine::call(ctx, "__run", (name, input))?;
            engine::text(ctx, out)
        })
        .map_err(to_wit)
    }
}

fn to_wit(f: Failure) -> types::Failure {
    types::Failure {
        message: f.message,
        details: f.details,
    }
}

/// `__host` for the orchestrator: the `context` import, as functions of plain values.
fn install<'js>(ctx: &Ctx<'js>, h: &Object<'js>) -> rquickjs::Result<()> {
    h.set("input", Function::new(ctx.clone(), host::input)?)?;
    h.set("instanceId", Function::new(ctx.clone(), host::instance_id)?)?;
    h.set(
        "parentInstanceId",
        Function::new(ctx.clone(), host::parent_instance_id)?,
    )?;
    h.set("version", Function::new(ctx.clone(), host::version)?)?;
    h.set(
        "now",
        Function::new(ctx.clone(), || crate::clock_ms(host::current_time))?,
    )?;
    h.set("newGuid", Function::new(ctx.clone(), host::new_guid)?)?;
    h.set(
        "isReplaying",
        Function::new(ctx.clone(), host::is_replaying)?,
    )?;
    h.set("log", Function::new(ctx.clone(), log)?)?;
    h.set(
        "setCustomStatus",
        Function::new(ctx.clone(), |status: Option<Coerced<String>>| {
            host::set_custom_status(status.as_deref().map(String::as_str))
        })?,
    )?;
    h.set(
        "scheduleActivity",
        Function::new(
            ctx.clone(),
            |name: Coerced<String>, input: Coerced<String>| host::schedule_activity(&name, &input),
        )?,
    )?;
    h.set(
        "scheduleSubOrchestration",
        Function::new(
            ctx.clone(),
            |name: Coerced<String>, id: Option<Coerced<String>>, input: Coerced<String>| {
                host::schedule_sub_orchestration(&name, id.as_deref().map(String::as_str), &input)
            },
        )?,
    )?;
    h.set(
        "createTimer",
        Function::new(
            ctx.clone(),
            |at: f64| host::create_timer(at.max(0.0) as u64),
        )?,
    )?;
    h.set(
        "waitForEvent",
        Function::new(ctx.clone(), |name: Coerced<String>| {
            host::wait_for_event(&name)
        })?,
    )?;
    h.set("waitAll", Function::new(ctx.clone(), wait_all)?)?;
    h.set("waitAny", Function::new(ctx.clone(), wait_any)?)?;
    h.set(
        "continueAsNew",
        Function::new(ctx.clone(), |input: Coerced<String>| {
            host::continue_as_new(&input)
        })?,
    )?;
    Ok(())
}

fn log(level: u32, message: Coerced<String>) {
    let level = match level {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        _ => LogLevel::Error,
    };
    host::log(level, &message);
}

/// An outcome as JS sees it: `[true, json]` or `[false, message, details]`.
fn outcome<'js>(ctx: &Ctx<'js>, o: Outcome) -> rquickjs::Result<Value<'js>> {
    let items = Array::new(ctx.clone())?;
    match o {
        Outcome::Completed(json) => {
            items.set(0, true)?;
            items.set(1, json)?;
        }
        Outcome::Failed(f) => {
            items.set(0, false)?;
            items.set(1, f.message)?;
            items.set(2, f.details)?;
        }
    }
    Ok(items.into_value())
}

fn wait_all<'js>(ctx: Ctx<'js>, ids: Vec<u32>) -> rquickjs::Result<Array<'js>> {
    let outcomes = host::wait_all(&ids).map_err(|e| thrown(&ctx, &e))?;
    let list = Array::new(ctx.clone())?;
    for (i, o) in outcomes.into_iter().enumerate() {
        list.set(i, outcome(&ctx, o)?)?;
    }
    Ok(list)
}

fn wait_any<'js>(ctx: Ctx<'js>, ids: Vec<u32>) -> rquickjs::Result<Array<'js>> {
    let (index, o) = host::wait_any(&ids).map_err(|e| thrown(&ctx, &e))?;
    let pair = Array::new(ctx.clone())?;
    pair.set(0, index)?;
    pair.set(1, outcome(&ctx, o)?)?;
    Ok(pair)
}
