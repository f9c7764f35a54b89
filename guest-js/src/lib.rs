//! The JavaScript runtime component: boa_engine, built by cargo into one component per role,
//! that runs a Durable Functions Node.js v4 app's source. The host evaluates the app in it once
//! (`js-app.load`) and snapshots the instance, so the app is part of the component (and of its
//! digest) and every instance starts with it evaluated.

// Each role uses a subset of the shared helpers.
#[allow(dead_code)]
mod engine;
mod json;

#[cfg(feature = "orchestrator")]
mod orchestrator;

#[cfg(feature = "activity")]
mod activity;

#[cfg(feature = "starter")]
mod starter;

/// The names the role's registry holds (`__names()`).
#[cfg(any(feature = "orchestrator", feature = "activity"))]
fn names() -> Result<Vec<String>, engine::Failure> {
    engine::with(|ctx| {
        let list = engine::call(ctx, "__names", &[])?;
        let list = boa_engine::object::builtins::JsArray::from_object(
            list.as_object()
                .ok_or_else(|| engine::Failure::new("__names did not return an array"))?
                .clone(),
        )
        .map_err(|e| engine::failure(e, ctx))?;
        let len = list.length(ctx).map_err(|e| engine::failure(e, ctx))?;
        let mut names = Vec::new();
        for i in 0..len {
            let v = list.get(i, ctx).map_err(|e| engine::failure(e, ctx))?;
            names.push(
                v.to_string(ctx)
                    .map_err(|e| engine::failure(e, ctx))?
                    .to_std_string_escaped(),
            );
        }
        Ok(names)
    })
}

#[cfg(any(feature = "orchestrator", feature = "starter"))]
thread_local! {
    static LOADED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The host's clock once the app is loaded; 0 while it loads (at build time, in the host,
/// where there is no instance and no clock to read: top-level code sees the epoch).
#[cfg(any(feature = "orchestrator", feature = "starter"))]
fn clock_ms(read: impl FnOnce() -> u64) -> u64 {
    if LOADED.with(|l| l.get()) { read() } else { 0 }
}

/// A clock read from the host: in an orchestrator the turn's time from the history (so
/// `Date.now()` and `new Date()` are replay-safe), for HTTP functions the host's clock.
#[cfg(any(feature = "orchestrator", feature = "starter"))]
struct HostClock(fn() -> u64);

#[cfg(any(feature = "orchestrator", feature = "starter"))]
impl boa_engine::context::time::Clock for HostClock {
    fn now(&self) -> boa_engine::context::time::JsInstant {
        let ms = clock_ms(self.0);
        boa_engine::context::time::JsInstant::new(ms / 1000, ((ms % 1000) * 1_000_000) as u32)
    }

    fn system_time_millis(&self) -> i64 {
        i64::try_from(clock_ms(self.0)).unwrap_or(i64::MAX)
    }
}

/// Loads the app with the host's clock (`now` reads it); from then on `Date` reads that clock.
#[cfg(any(feature = "orchestrator", feature = "starter"))]
fn load_with_host_clock(
    now: fn() -> u64,
    host: &[engine::HostFn],
    role: (&str, &str),
    app: (&str, &str),
) -> Result<(), engine::Failure> {
    let r = engine::load(Some(std::rc::Rc::new(HostClock(now))), host, role, app);
    LOADED.with(|l| l.set(true));
    r
}
