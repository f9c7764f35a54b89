//! The JavaScript runtime component: QuickJS (quickjs-ng, through rquickjs), built by cargo into
//! one component per role, that runs a Durable Functions Node.js v4 app's source. The host
//! evaluates the app in it once (`js-app.load`) and snapshots the instance, so the app is part of
//! the component (and of its digest) and every instance starts with it evaluated.

// Each role uses a subset of the shared helpers.
#[allow(dead_code)]
mod engine;

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
        let list = engine::call(ctx, "__names", ())?;
        list.get::<Vec<String>>()
            .map_err(|e| engine::Failure::new(format!("__names: {e}")))
    })
}

#[cfg(any(feature = "orchestrator", feature = "starter"))]
thread_local! {
    static LOADED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The host's clock once the app is loaded; 0 while it loads (at build time, in the host,
/// where there is no instance and no clock to read: top-level code sees the epoch).
#[cfg(any(feature = "orchestrator", feature = "starter"))]
fn clock_ms(read: impl FnOnce() -> u64) -> f64 {
    if LOADED.with(|l| l.get()) {
        read() as f64
    } else {
        0.0
    }
}

/// Loads the app; from then on `__host.now` reads the host's clock.
#[cfg(any(feature = "orchestrator", feature = "starter", feature = "activity"))]
fn load(
    install: engine::Install,
    role: (&str, &str),
    app: (&str, &str),
) -> Result<(), engine::Failure> {
    let r = engine::load(install, role, app);
    #[cfg(any(feature = "orchestrator", feature = "starter"))]
    LOADED.with(|l| l.set(true));
    r
}
