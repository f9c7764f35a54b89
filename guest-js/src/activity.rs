//! Activity role (wasm32-wasip2): WASI as the app's grant allows; `new Date()` reads the wall
//! clock, `console.log` writes to stdout (which the host logs, tagged with instance and task).

use boa_engine::context::time::StdClock;
use boa_engine::{Context, JsResult, JsValue};

use crate::engine::{self, Failure, HostFn, arg, string};

/// wit-bindgen's canonical-ABI glue; generated, not hand-written.
#[allow(unsafe_code)]
#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "js-activity",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "crate::activity::bindings",
    });
}

#[allow(unsafe_code)]
mod export {
    use super::Runtime;
    crate::activity::bindings::export!(Runtime);
}

use bindings::durable::engine::types;

struct Runtime;

impl bindings::exports::durable::engine::js_app::Guest for Runtime {
    fn load(path: String, source: String) -> Result<(), types::Failure> {
        let role = (
            "durable-wasm:activity.js",
            include_str!("../js/activity.js"),
        );
        engine::load::<StdClock>(None, HOST, role, (&path, &source)).map_err(to_wit)
    }
}

impl bindings::exports::durable::engine::activities::Guest for Runtime {
    fn names() -> Vec<String> {
        crate::names().unwrap_or_default()
    }

    fn run(name: String, input: String) -> Result<String, types::Failure> {
        engine::with(|ctx| {
            let out = engine::call_async(ctx, "__start", &[string(&name), string(&input)])?;
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

const HOST: &[HostFn] = &[("log", 2, log)];

fn log(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let level = args.first().cloned().unwrap_or_default().to_u32(ctx)?;
    let message = arg(args, 1, ctx)?;
    match level {
        0..=2 => println!("{message}"),
        3 => eprintln!("warn: {message}"),
        _ => eprintln!("error: {message}"),
    }
    Ok(JsValue::undefined())
}
