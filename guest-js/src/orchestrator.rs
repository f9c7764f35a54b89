//! Orchestrator role: `durable:engine/context` is the only import; Date and `Math.random` are
//! replay-safe (the turn's time from the history, a PRNG seeded from a deterministic GUID).

use boa_engine::{Context, JsResult, JsValue};

use crate::engine::{self, Failure, HostFn, arg, array, opt_arg, string, thrown, u32_list};

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
        crate::load_with_host_clock(host::current_time, HOST, role, (&path, &source))
            .map_err(to_wit)
    }
}

impl bindings::exports::durable::engine::orchestrations::Guest for Runtime {
    fn names() -> Vec<String> {
        crate::names().unwrap_or_default()
    }

    fn run(name: String, input: String) -> Result<String, types::Failure> {
        engine::with(|ctx| {
            let out = engine::call(ctx, "__run", &[string(&name), string(&input)])?;
            out.to_string(ctx)
                .map(|s| s.to_std_string_escaped())
                .map_err(|e| engine::failure(e, ctx))
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

const HOST: &[HostFn] = &[
    ("input", 0, |_, _, _| Ok(string(&host::input()))),
    ("instanceId", 0, |_, _, _| Ok(string(&host::instance_id()))),
    ("parentInstanceId", 0, |_, _, _| {
        Ok(host::parent_instance_id().map_or(JsValue::undefined(), |p| string(&p)))
    }),
    ("now", 0, |_, _, _| {
        Ok(JsValue::from(host::current_time() as f64))
    }),
    ("newGuid", 0, |_, _, _| Ok(string(&host::new_guid()))),
    ("isReplaying", 0, |_, _, _| {
        Ok(JsValue::from(host::is_replaying()))
    }),
    ("log", 2, log),
    ("setCustomStatus", 1, |_, a, c| {
        host::set_custom_status(opt_arg(a, 0, c)?.as_deref());
        Ok(JsValue::undefined())
    }),
    ("scheduleActivity", 2, |_, a, c| {
        Ok(host::schedule_activity(&arg(a, 0, c)?, &arg(a, 1, c)?).into())
    }),
    ("scheduleSubOrchestration", 3, |_, a, c| {
        let id = opt_arg(a, 1, c)?;
        Ok(host::schedule_sub_orchestration(&arg(a, 0, c)?, id.as_deref(), &arg(a, 2, c)?).into())
    }),
    ("createTimer", 1, |_, a, c| {
        let at = a.first().cloned().unwrap_or_default().to_number(c)?;
        Ok(host::create_timer(at.max(0.0) as u64).into())
    }),
    ("waitForEvent", 1, |_, a, c| {
        Ok(host::wait_for_event(&arg(a, 0, c)?).into())
    }),
    ("waitAll", 1, wait_all),
    ("waitAny", 1, wait_any),
    ("continueAsNew", 1, |_, a, c| {
        host::continue_as_new(&arg(a, 0, c)?);
        Ok(JsValue::undefined())
    }),
];

fn log(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let level = match args.first().cloned().unwrap_or_default().to_u32(ctx)? {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        _ => LogLevel::Error,
    };
    host::log(level, &arg(args, 1, ctx)?);
    Ok(JsValue::undefined())
}

/// An outcome as JS sees it: `[true, json]` or `[false, message, details]`.
fn outcome(o: Outcome, ctx: &mut Context) -> JsValue {
    let items = match o {
        Outcome::Completed(json) => vec![JsValue::from(true), string(&json)],
        Outcome::Failed(f) => vec![
            JsValue::from(false),
            string(&f.message),
            f.details.map_or(JsValue::undefined(), |d| string(&d)),
        ],
    };
    array(items, ctx)
}

fn wait_all(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let ids = u32_list(args, 0, ctx)?;
    let outcomes = host::wait_all(&ids).map_err(thrown)?;
    let items = outcomes.into_iter().map(|o| outcome(o, ctx)).collect();
    Ok(array(items, ctx))
}

fn wait_any(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let ids = u32_list(args, 0, ctx)?;
    let (index, o) = host::wait_any(&ids).map_err(thrown)?;
    let o = outcome(o, ctx);
    Ok(array(vec![JsValue::from(index), o], ctx))
}
