//! HTTP-function role: the handler runs as code, seeing the host only through `client`.

use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::JsArray;
use boa_engine::property::Attribute;
use boa_engine::{Context, JsObject, JsResult, JsValue, js_string};

use crate::engine::{self, Failure, HostFn, arg, array, opt_arg, string};

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
        crate::load_with_host_clock(host::now, HOST, role, (&path, &source)).map_err(to_wit)
    }
}

impl bindings::exports::durable::engine::http_functions::Guest for Runtime {
    fn routes() -> Vec<HttpRoute> {
        engine::with(|ctx| {
            let list = engine::call(ctx, "__routes", &[])?;
            let rows = strings_2d(&list, ctx).map_err(|e| engine::failure(e, ctx))?;
            Ok(rows.into_iter().filter_map(|r| route(r, ctx)).collect())
        })
        .unwrap_or_default()
    }

    fn handle(name: String, request: HttpRequest) -> Result<HttpResponse, types::Failure> {
        engine::with(|ctx| {
            let raw = request_object(request, ctx).map_err(|e| engine::failure(e, ctx))?;
            let out = engine::call_async(ctx, "__start", &[string(&name), raw.into()])?;
            response(&out, ctx).map_err(|e| engine::failure(e, ctx))
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

/// `[name, route, [methods], authLevel]` rows, flattened to strings.
fn strings_2d(list: &JsValue, ctx: &mut Context) -> JsResult<Vec<Vec<JsValue>>> {
    let mut rows = Vec::new();
    for row in items(list, ctx)? {
        rows.push(items(&row, ctx)?);
    }
    Ok(rows)
}

fn items(value: &JsValue, ctx: &mut Context) -> JsResult<Vec<JsValue>> {
    let Some(object) = value.as_object() else {
        return Ok(Vec::new());
    };
    let array = JsArray::from_object(object.clone())?;
    let len = array.length(ctx)?;
    (0..len).map(|i| array.get(i, ctx)).collect()
}

fn route(row: Vec<JsValue>, ctx: &mut Context) -> Option<HttpRoute> {
    let text = |v: &JsValue| v.as_string().map(|s| s.to_std_string_escaped());
    let methods = items(row.get(2)?, ctx).ok()?;
    Some(HttpRoute {
        name: text(row.first()?)?,
        route: text(row.get(1)?)?,
        methods: methods.iter().filter_map(text).collect(),
        auth_level: text(row.get(3)?)?,
    })
}

fn request_object(r: HttpRequest, ctx: &mut Context) -> JsResult<JsObject> {
    let parse = |text: &str, ctx: &mut Context| -> JsResult<JsValue> {
        let json = ctx.intrinsics().objects().json();
        let f = json.get(js_string!("parse"), ctx)?;
        f.as_callable()
            .expect("JSON.parse is callable")
            .call(&json.into(), &[string(text)], ctx)
    };
    let headers: Vec<JsValue> = r
        .headers
        .iter()
        .map(|(k, v)| array(vec![string(k), string(v)], ctx))
        .collect();
    let headers = array(headers, ctx);
    let params = parse(&r.params, ctx)?;
    let query = parse(&r.query, ctx)?;
    let body = string(&String::from_utf8_lossy(&r.body));
    Ok(ObjectInitializer::new(ctx)
        .property(js_string!("method"), string(&r.method), Attribute::all())
        .property(js_string!("url"), string(&r.url), Attribute::all())
        .property(js_string!("headers"), headers, Attribute::all())
        .property(js_string!("params"), params, Attribute::all())
        .property(js_string!("query"), query, Attribute::all())
        .property(js_string!("body"), body, Attribute::all())
        .build())
}

/// `[status, [[name, value]...], body]` from the role script.
fn response(value: &JsValue, ctx: &mut Context) -> JsResult<HttpResponse> {
    let parts = items(value, ctx)?;
    let status = parts.first().cloned().unwrap_or_default().to_u32(ctx)?;
    let mut headers = Vec::new();
    for pair in items(&parts.get(1).cloned().unwrap_or_default(), ctx)? {
        let pair = items(&pair, ctx)?;
        if let [k, v] = pair.as_slice() {
            headers.push((
                k.to_string(ctx)?.to_std_string_escaped(),
                v.to_string(ctx)?.to_std_string_escaped(),
            ));
        }
    }
    let body = parts.get(2).cloned().unwrap_or_default().to_string(ctx)?;
    Ok(HttpResponse {
        status: u16::try_from(status).unwrap_or(500),
        headers,
        body: body.to_std_string_escaped().into_bytes(),
    })
}

const HOST: &[HostFn] = &[
    ("now", 0, |_, _, _| Ok(JsValue::from(host::now() as f64))),
    ("log", 2, log),
    ("startNew", 3, |_, a, c| {
        let (id, input) = (opt_arg(a, 1, c)?, opt_arg(a, 2, c)?);
        result(
            host::start_new(&arg(a, 0, c)?, id.as_deref(), input.as_deref()).map(|s| string(&s)),
            c,
        )
    }),
    ("getStatus", 1, |_, a, c| {
        let status = host::get_status(&arg(a, 0, c)?);
        result(status.map(|s| s.map_or(JsValue::null(), |s| string(&s))), c)
    }),
    ("raiseEvent", 3, |_, a, c| {
        let r = host::raise_event(&arg(a, 0, c)?, &arg(a, 1, c)?, &arg(a, 2, c)?);
        result(r.map(|()| JsValue::undefined()), c)
    }),
    ("terminate", 2, |_, a, c| {
        let r = host::terminate(&arg(a, 0, c)?, &arg(a, 1, c)?);
        result(r.map(|()| JsValue::undefined()), c)
    }),
    ("checkStatusPayload", 2, |_, a, c| {
        Ok(string(&host::check_status_payload(
            &arg(a, 0, c)?,
            &arg(a, 1, c)?,
        )))
    }),
    ("waitForCompletion", 2, |_, a, c| {
        let timeout = a.get(1).cloned().unwrap_or_default().to_number(c)?.max(0.0) as u64;
        let status = host::wait_for_completion(&arg(a, 0, c)?, timeout);
        result(status.map(|s| s.map_or(JsValue::null(), |s| string(&s))), c)
    }),
];

/// `{ok}` or `{error}`, for the role script to unwrap (it throws the error as a JS `Error`).
fn result(r: Result<JsValue, String>, ctx: &mut Context) -> JsResult<JsValue> {
    let (key, value) = match r {
        Ok(v) => (js_string!("ok"), v),
        Err(e) => (js_string!("error"), string(&e)),
    };
    Ok(ObjectInitializer::new(ctx)
        .property(key, value, Attribute::all())
        .build()
        .into())
}

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
