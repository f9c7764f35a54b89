//! The one JS context of this instance (QuickJS, through rquickjs): created by `load` (at
//! snapshot time, in the host's build of the app), used by every later call.

use std::cell::RefCell;

use rquickjs::context::EvalOptions;
use rquickjs::function::IntoArgs;
use rquickjs::prelude::Coerced;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Object, Runtime, Value};

thread_local! {
    /// The one context (it holds its runtime).
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

/// Puts the role's native functions on the `__host` object (the prelude takes it from there).
pub type Install = for<'js> fn(&Ctx<'js>, &Object<'js>) -> rquickjs::Result<()>;

const PRELUDE: &str = include_str!("../js/prelude.js");

/// How much of the shadow stack in linear memory (1 MiB, build.rs) JS calls may use before
/// QuickJS throws a catchable `RangeError` ("Maximum call stack size exceeded"): about 550
/// frames of plain JS recursion (~220 bytes each here, and ~500 bytes of wasmtime's native
/// stack, which the host sizes at 512 KiB for these roles, so the `RangeError` comes first).
/// Deeper native recursion (through builtins) ends in the host's stack-overflow trap, named as
/// such. QuickJS does no such check on wasm32-wasip2: activities end in that trap.
const MAX_STACK: usize = 128 * 1024;

/// Creates the context: the role's `host` functions, the prelude, the role's script, the app.
pub fn load(install: Install, role: (&str, &str), app: (&str, &str)) -> Result<(), Failure> {
    if JS.with(|js| js.borrow().is_some()) {
        return Err(Failure::new("an app is already loaded in this instance"));
    }
    let runtime =
        Runtime::new().map_err(|e| Failure::new(format!("creating the JS runtime: {e}")))?;
    runtime.set_max_stack_size(MAX_STACK);
    let context = Context::full(&runtime)
        .map_err(|e| Failure::new(format!("creating the JS context: {e}")))?;
    context.with(|ctx| {
        Object::new(ctx.clone())
            .and_then(|host| {
                install(&ctx, &host)?;
                ctx.globals().set("__host", host)
            })
            .catch(&ctx)
            .map_err(caught)
    })?;
    for (path, source) in [("durable-wasm:prelude.js", PRELUDE), role, app] {
        context.with(|ctx| {
            let mut options = EvalOptions::default();
            options.strict = false;
            options.filename = Some(path.to_owned());
            ctx.eval_with_options::<(), _>(source, options)
                .catch(&ctx)
                .map_err(|e| at_load(path, caught(e)))
        })?;
        run_jobs(&runtime).map_err(|e| at_load(path, e))?;
    }
    JS.with(|js| *js.borrow_mut() = Some(context));
    Ok(())
}

/// Runs the jobs (promise reactions) the app's top-level code queued; one that throws fails
/// the load, as an uncaught exception would end a Node process.
fn run_jobs(runtime: &Runtime) -> Result<(), Failure> {
    loop {
        match runtime.execute_pending_job() {
            Ok(true) => continue,
            Ok(false) => return Ok(()),
            Err(job) => {
                return Err(job.0.with(|ctx| {
                    let thrown = ctx.catch();
                    caught(CaughtError::from_error(&ctx, ctx.throw(thrown)))
                }));
            }
        }
    }
}

/// Runs `f` on the loaded context.
pub fn with<R>(f: impl for<'js> FnOnce(&Ctx<'js>) -> Result<R, Failure>) -> Result<R, Failure> {
    JS.with(|js| match js.borrow().as_ref() {
        Some(context) => context.with(|ctx| f(&ctx)),
        None => Err(Failure::new("no app is loaded in this instance")),
    })
}

/// Calls the global function `name`.
pub fn call<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    args: impl IntoArgs<'js>,
) -> Result<Value<'js>, Failure> {
    let f: Option<Function<'js>> = ctx.globals().get(name).catch(ctx).map_err(caught)?;
    let Some(f) = f else {
        return Err(Failure::new(format!("the runtime lacks {name}")));
    };
    f.call(args).catch(ctx).map_err(caught)
}

/// Calls the global function `name`, which returns a promise, and runs jobs until none is
/// left (so nothing the call queued runs later, in another call). A job that throws outside a
/// promise is dropped (QuickJS's queue has no other place for it).
pub fn call_async<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    args: impl IntoArgs<'js>,
) -> Result<Value<'js>, Failure> {
    let value = call(ctx, name, args)?;
    let promise = value
        .into_promise()
        .ok_or_else(|| Failure::new(format!("{name} did not return a promise")))?;
    while ctx.execute_pending_job() {}
    match promise.result::<Value<'js>>() {
        Some(settled) => settled.catch(ctx).map_err(caught),
        None => Err(Failure::new(
            "the handler's promise never settled (there are no timers or I/O to wait for here)",
        )),
    }
}

/// A value as a string, as JS's `String(value)` makes it.
pub fn text<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<String, Failure> {
    value
        .get::<Coerced<String>>()
        .map(|s| s.0)
        .catch(ctx)
        .map_err(caught)
}

/// The message of a JS error (`Name: message` unless it is a plain `Error`) and its stack.
pub fn caught(err: CaughtError<'_>) -> Failure {
    match err {
        CaughtError::Error(e) => Failure::new(e.to_string()),
        CaughtError::Value(v) => match v.as_object() {
            // A thrown object that is not an Error: its own `message` and `name`, if any.
            Some(object) if object.contains_key("message").unwrap_or(false) => {
                described(object, None)
            }
            _ => Failure::new(
                v.get::<Coerced<String>>()
                    .map(|s| s.0)
                    .unwrap_or_else(|_| format!("a thrown {}", v.type_name())),
            ),
        },
        CaughtError::Exception(e) => {
            let stack = e.stack().filter(|s| !s.is_empty());
            described(e.as_object(), stack)
        }
    }
}

/// `Name: message` from an error-like object (`message` alone for a plain `Error`).
fn described(object: &Object<'_>, details: Option<String>) -> Failure {
    let field = |key: &str| {
        object
            .get::<_, Option<Coerced<String>>>(key)
            .ok()
            .flatten()
            .map(|s| s.0)
    };
    let message = field("message").unwrap_or_default();
    let message = match field("name").as_deref() {
        None | Some("") | Some("Error") => message,
        Some(name) => format!("{name}: {message}"),
    };
    Failure { message, details }
}

/// An error while the app loads names the file, and the line and column where it arose (a
/// syntax error's stack is that one place).
fn at_load(path: &str, mut failure: Failure) -> Failure {
    let place = failure
        .details
        .as_deref()
        .and_then(|stack| location(stack, path));
    failure.message = match place {
        Some((line, column)) => {
            format!("{path}: {} (line {line}, column {column})", failure.message)
        }
        None => format!("{path}: {}", failure.message),
    };
    failure
}

/// The first `path:LINE:COLUMN` in a stack (a whole file name: `app.js` is not found inside
/// `durable-wasm:prelude.js`'s frames).
fn location(stack: &str, path: &str) -> Option<(u32, u32)> {
    let needle = format!("{path}:");
    stack.match_indices(&needle).find_map(|(at, _)| {
        let before = stack[..at].chars().next_back();
        if before.is_some_and(|c| c != '(' && !c.is_whitespace()) {
            return None;
        }
        let rest = &stack[at + needle.len()..];
        let mut numbers = rest.split(|c: char| !c.is_ascii_digit());
        let line = numbers.next()?.parse().ok()?;
        let column = numbers.next()?.parse().ok()?;
        Some((line, column))
    })
}

/// An error thrown into JS from a host function.
pub fn thrown(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    rquickjs::Exception::throw_message(ctx, message)
}
