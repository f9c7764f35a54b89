//! The one JS context of this instance: created by `load` (at snapshot time, in the host's
//! build of the app), used by every later call.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use boa_engine::builtins::promise::PromiseState;
use boa_engine::context::ContextBuilder;
use boa_engine::context::time::Clock;
use boa_engine::native_function::NativeFunctionPointer;
use boa_engine::object::ObjectInitializer;
use boa_engine::object::builtins::{JsArray, JsPromise};
use boa_engine::property::Attribute;
use boa_engine::{
    Context, JsError, JsNativeError, JsResult, JsString, JsValue, NativeFunction, Source, js_string,
};

thread_local! {
    static JS: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Why a call failed: the JS error's message, and its stack when it has one.
pub struct Failure {
    pub message: String,
    pub details: Option<String>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            details: None,
        }
    }
}

/// A native function the role gives its JS side, as `__host.<name>`.
pub type HostFn = (&'static str, usize, NativeFunctionPointer);

const PRELUDE: &str = include_str!("../js/prelude.js");

/// Creates the context: `host` functions, the prelude, the role's script, then the app.
pub fn load<C: Clock + 'static>(
    clock: Option<Rc<C>>,
    host: &[HostFn],
    role: (&str, &str),
    app: (&str, &str),
) -> Result<(), Failure> {
    if JS.with(|js| js.borrow().is_some()) {
        return Err(Failure::new("an app is already loaded in this instance"));
    }
    let mut builder = ContextBuilder::default();
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    let mut ctx = builder
        .build()
        .map_err(|e| Failure::new(format!("creating the JS context: {e}")))?;
    crate::json::install(&mut ctx).map_err(|e| failure(e, &mut ctx))?;
    let mut object = ObjectInitializer::new(&mut ctx);
    for (name, length, f) in host {
        object.function(
            NativeFunction::from_fn_ptr(*f),
            JsString::from(*name),
            *length,
        );
    }
    let object = object.build();
    ctx.register_global_property(js_string!("__host"), object, Attribute::all())
        .map_err(|e| failure(e, &mut ctx))?;
    for (path, source) in [("durable-wasm:prelude.js", PRELUDE), role, app] {
        ctx.eval(Source::from_bytes(source).with_path(Path::new(path)))
            .map_err(|e| {
                let mut f = failure(e, &mut ctx);
                f.message = format!("{path}: {}", f.message);
                f
            })?;
        ctx.run_jobs().map_err(|e| failure(e, &mut ctx))?;
    }
    JS.with(|js| *js.borrow_mut() = Some(ctx));
    Ok(())
}

/// Runs `f` on the loaded context.
pub fn with<R>(f: impl FnOnce(&mut Context) -> Result<R, Failure>) -> Result<R, Failure> {
    JS.with(|js| match js.borrow_mut().as_mut() {
        Some(ctx) => f(ctx),
        None => Err(Failure::new("no app is loaded in this instance")),
    })
}

/// Calls the global function `name`.
pub fn call(ctx: &mut Context, name: &str, args: &[JsValue]) -> Result<JsValue, Failure> {
    let f = ctx
        .global_object()
        .get(JsString::from(name), ctx)
        .map_err(|e| failure(e, ctx))?;
    let Some(f) = f.as_callable() else {
        return Err(Failure::new(format!("the runtime lacks {name}")));
    };
    f.call(&JsValue::undefined(), args, ctx)
        .map_err(|e| failure(e, ctx))
}

/// Calls the global function `name`, which returns a promise, and runs jobs until it settles.
#[cfg_attr(feature = "orchestrator", allow(dead_code))]
pub fn call_async(ctx: &mut Context, name: &str, args: &[JsValue]) -> Result<JsValue, Failure> {
    let value = call(ctx, name, args)?;
    let promise = value
        .as_object()
        .and_then(|o| JsPromise::from_object(o.clone()).ok())
        .ok_or_else(|| Failure::new(format!("{name} did not return a promise")))?;
    ctx.run_jobs().map_err(|e| failure(e, ctx))?;
    match promise.state() {
        PromiseState::Fulfilled(v) => Ok(v),
        PromiseState::Rejected(e) => Err(failure(JsError::from_opaque(e), ctx)),
        PromiseState::Pending => Err(Failure::new(
            "the handler's promise never settled (there are no timers or I/O to wait for here)",
        )),
    }
}

/// The message of a JS error (`Name: message` unless it is a plain `Error`) and its stack.
pub fn failure(err: JsError, ctx: &mut Context) -> Failure {
    let value = match err.into_opaque(ctx) {
        Ok(v) => v,
        Err(e) => return Failure::new(e.to_string()),
    };
    let Some(object) = value.as_object() else {
        return Failure::new(text(&value, ctx));
    };
    let field = |key: &str, ctx: &mut Context| {
        object
            .get(JsString::from(key), ctx)
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
            .map(|v| text(&v, ctx))
    };
    let message = field("message", ctx).unwrap_or_else(|| text(&value, ctx));
    let name = field("name", ctx).unwrap_or_default();
    let message = if name.is_empty() || name == "Error" {
        message
    } else {
        format!("{name}: {message}")
    };
    Failure {
        message,
        details: field("stack", ctx),
    }
}

fn text(value: &JsValue, ctx: &mut Context) -> String {
    value
        .to_string(ctx)
        .map(|s| s.to_std_string_escaped())
        .unwrap_or_else(|_| value.display().to_string())
}

/// Argument `i` as a string.
pub fn arg(args: &[JsValue], i: usize, ctx: &mut Context) -> JsResult<String> {
    let v = args.get(i).cloned().unwrap_or_default();
    Ok(v.to_string(ctx)?.to_std_string_escaped())
}

/// Argument `i` as a string, `None` when null or undefined.
pub fn opt_arg(args: &[JsValue], i: usize, ctx: &mut Context) -> JsResult<Option<String>> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_null_or_undefined() => Ok(None),
        Some(_) => arg(args, i, ctx).map(Some),
    }
}

/// Argument `i` as an array of u32.
pub fn u32_list(args: &[JsValue], i: usize, ctx: &mut Context) -> JsResult<Vec<u32>> {
    let array = args
        .get(i)
        .and_then(|v| v.as_object())
        .and_then(|o| JsArray::from_object(o.clone()).ok())
        .ok_or_else(|| JsNativeError::typ().with_message("expected an array of task ids"))?;
    let len = array.length(ctx)?;
    (0..len).map(|k| array.get(k, ctx)?.to_u32(ctx)).collect()
}

pub fn string(s: &str) -> JsValue {
    JsValue::from(JsString::from(s))
}

pub fn array(values: Vec<JsValue>, ctx: &mut Context) -> JsValue {
    JsArray::from_iter(values, ctx).into()
}

/// An error thrown into JS.
pub fn thrown(message: String) -> JsError {
    JsNativeError::error().with_message(message).into()
}
