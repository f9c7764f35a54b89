//! Activity role (wasm32-wasip2): WASI as the app's grant allows; `new Date()` reads the wall
//! clock, `console.log` writes to stdout (which the host logs, tagged with instance and task).

use rquickjs::prelude::Coerced;
use rquickjs::{Ctx, Function, Object};

use crate::engine::{self, Failure};

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
        crate::load(install, role, (&path, &source)).map_err(to_wit)
    }
}

impl bindings::exports::durable::engine::activities::Guest for Runtime {
    fn names() -> Vec<String> {
        crate::names().unwrap_or_default()
    }

    fn run(name: String, input: String) -> Result<String, types::Failure> {
        engine::with(|ctx| {
            let out = engine::call_async(ctx, "__start", (name, input))?;
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

/// `__host` for activities: only the log (their `Date` is the engine's, on the WASI clock).
fn install<'js>(ctx: &Ctx<'js>, h: &Object<'js>) -> rquickjs::Result<()> {
    h.set("log", Function::new(ctx.clone(), log)?)
}

fn log(level: u32, message: Coerced<String>) {
    let message = message.0;
    match level {
        0..=2 => println!("{message}"),
        3 => eprintln!("warn: {message}"),
        _ => eprintln!("error: {message}"),
    }
}
