//! HTTP-function role: the handler runs as code, seeing the host only through `client`.

use rquickjs::prelude::{Coerced, List};
use rquickjs::{CatchResultExt, Ctx, Function, Object, Value};

use crate::engine::{self, Failure};

/// wit-bindgen's canonical-ABI glue; generated, not hand-written.
#[allow(unsafe_code)]
#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "js-starter",
        path: "../wit",
        pub_export_macro: true,
        default_bindings_module: "crate::starter::bindings",
    });
}

#[allow(unsafe_code)]
mod export {
    use super::Runtime;
    crate::starter::bindings::export!(Runtime);
}

use bindings::durable::engine::client as host;
use bindings::durable::engine::types::{self, LogLevel};
use bindings::exports::durable::engine::http_functions::{HttpRequest, HttpResponse, HttpRoute};

struct Runtime;

impl bindings::exports::durable::engine::js_app::Guest for Runtime {
    fn load(path: String, source: String) -> Result<(), types::Failure> {
        let role = ("durable-wasm:starter.js", include_str!("../js/starter.js"));
        crate::load(install, role, (&path, &source)).map_err(to_wit)
    }
}

impl bindings::exports::durable::engine::http_functions::Guest for Runtime {
    fn routes() -> Vec<HttpRoute> {
        engine::with(|ctx| {
            let list = engine::call(ctx, "__routes", ())?;
            let rows: Vec<Value> = list
                .get()
                .map_err(|e| Failure::new(format!("__routes: {e}")))?;
            // A row not of the expected shape is skipped; the others are served.
            Ok(rows
                .into_iter()
                .filter_map(|row| row.get::<List<Route>>().ok())
                .map(|row| route(row.0))
                .collect())
        })
        .unwrap_or_default()
    }

    fn handle(name: String, request: HttpRequest) -> Result<HttpResponse, types::Failure> {
        engine::with(|ctx| {
            let raw = request_object(ctx, request)
                .catch(ctx)
                .map_err(engine::caught)?;
            let out = engine::call_async(ctx, "__start", (name, raw))?;
            response(out).catch(ctx).map_err(engine::caught)
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

/// A row of `__routes()`: `[name, route, [methods], authLevel]`.
type Route = (String, String, Vec<String>, String);

fn route((name, route, methods, auth_level): Route) -> HttpRoute {
    HttpRoute {
        name,
        route,
        methods,
        auth_level,
    }
}

fn request_object<'js>(ctx: &Ctx<'js>, r: HttpRequest) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    object.set("method", r.method)?;
    object.set("url", r.url)?;
    let headers: Vec<List<(String, String)>> = r.headers.into_iter().map(List).collect();
    object.set("headers", headers)?;
    object.set("params", ctx.json_parse(r.params)?)?;
    object.set("query", ctx.json_parse(r.query)?)?;
    object.set("body", String::from_utf8_lossy(&r.body).into_owned())?;
    Ok(object)
}

/// `[status, [[name, value]...], body]` from the role script.
fn response(value: Value<'_>) -> rquickjs::Result<HttpResponse> {
    type Header = List<(Coerced<String>, Coerced<String>)>;
    let List((status, headers, body)): List<(f64, Vec<Header>, Coerced<String>)> = value.get()?;
    let status = if (100.0..=999.0).contains(&status) {
        status as u16
    } else {
        500
    };
    Ok(HttpResponse {
        status,
        headers: headers.into_iter().map(|h| (h.0.0.0, h.0.1.0)).collect(),
        body: body.0.into_bytes(),
    })
}

/// `__host` for HTTP functions: the `client` import, each call answering `{ok}` or `{error}`.
fn install<'js>(ctx: &Ctx<'js>, h: &Object<'js>) -> rquickjs::Result<()> {
    h.set(
        "now",
        Function::new(ctx.clone(), || crate::clock_ms(host::now))?,
    )?;
    h.set("log", Function::new(ctx.clone(), log)?)?;
    h.set(
        "startNew",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             name: Coerced<String>,
             id: Option<Coerced<String>>,
             input: Option<Coerced<String>>| {
                let id = id.as_deref().map(String::as_str);
                result(
                    &ctx,
                    host::start_new(&name, id, input.as_deref().map(String::as_str)),
                )
            },
        )?,
    )?;
    h.set(
        "getStatus",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, id: Coerced<String>| {
            result(&ctx, host::get_status(&id))
        })?,
    )?;
    h.set(
        "raiseEvent",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, id: Coerced<String>, event: Coerced<String>, data: Coerced<String>| {
                result(&ctx, host::raise_event(&id, &event, &data))
            },
        )?,
    )?;
    h.set(
        "terminate",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, id: Coerced<String>, reason: Coerced<String>| {
                result(&ctx, host::terminate(&id, &reason))
            },
        )?,
    )?;
    h.set(
        "checkStatusPayload",
        Function::new(ctx.clone(), |id: Coerced<String>, url: Coerced<String>| {
            host::check_status_payload(&id, &url)
        })?,
    )?;
    h.set(
        "waitForCompletion",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, id: Coerced<String>, timeout: f64| {
                result(
                    &ctx,
                    host::wait_for_completion(&id, timeout.max(0.0) as u64),
                )
            },
        )?,
    )?;
    Ok(())
}

/// `{ok}` or `{error}`, for the role script to unwrap (it throws the error as a JS `Error`).
fn result<'js, T: rquickjs::IntoJs<'js>>(
    ctx: &Ctx<'js>,
    r: Result<T, String>,
) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    match r {
        Ok(v) => object.set("ok", v)?,
        Err(e) => object.set("error", e)?,
    }
    Ok(object)
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
