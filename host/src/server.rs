//! Putting a host together from its configuration: store, components, keys, executor, HTTP.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, OffsetClock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::deploy::{Deployer, Kind};
use crate::executor::{Executor, ExecutorOptions};
use crate::http::{self, AppState, Keys, Starter};
use crate::ids::Digest;
use crate::jsapp;
use crate::runtime::activity::ActivityGrant;
use crate::runtime::orchestrator::OrchestratorLimits;
use crate::runtime::{Components, LoadError};
use crate::store::{
    LeaseOptions, Op, PostgresOptions, PostgresStore, SqliteStore, Store, StoreError, StoreOptions,
};

/// Settings of `durable serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub listen: String,
    pub data_dir: PathBuf,
    /// `--store`: `None` for the SQLite file in the data dir.
    pub store: Option<String>,
    /// Compiled components and built JS apps, kept between runs.
    pub cache_dir: PathBuf,
    pub master_key: Option<String>,
    /// Use a clock that `POST /admin/test/clock/advance` can move forward (tests only).
    pub test_clock: bool,
    /// Deploy component files of the config again when they change (local development).
    pub watch: bool,
    /// Drop instances idle this long from memory (`None`: keep them).
    pub idle_evict: Option<std::time::Duration>,
    /// Loopback address of the keyless management listener (`None`: off).
    pub rpc_listen: Option<String>,
    /// Orchestrations held in memory at once.
    pub max_hot_instances: u32,
    /// See `--fuel-per-turn`.
    pub fuel_per_turn: u64,
    /// Instances that may wait for a slot before starters answer 503.
    pub max_queued: usize,
    /// On shutdown, how long running activity calls may take to finish.
    pub shutdown_grace: std::time::Duration,
    /// A shared store's partition leases: this host's id (`None`: kept in the data dir) and
    /// the lease timing.
    pub host_id: Option<String>,
    pub lease_ttl: std::time::Duration,
    pub lease_renew: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Setup(String),
    #[error("JS app {path}: {source}")]
    App {
        path: String,
        source: crate::jsapp::JsBuildError,
    },
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// Where the master key came from, for the startup banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    Generated(PathBuf),
}

/// A host ready to serve.
pub struct Host {
    pub state: Arc<AppState>,
    pub key_source: KeySource,
    pub recovered: usize,
    /// The component and app files of the config, for `--watch`.
    pub files: Vec<(Watched, PathBuf)>,
}

/// What a file `--watch` looks at holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    Component(Kind),
    App,
}

/// Opens the store, loads and checks every component, resumes unfinished instances.
pub async fn build(options: &ServeOptions) -> Result<Host, ServeError> {
    let config = Config::load(&options.config)?;
    check_routes(options, &config.starters)?;
    create_private_dir(&options.data_dir).map_err(|e| {
        ServeError::Setup(format!(
            "creating data dir {}: {e}",
            options.data_dir.display()
        ))
    })?;
    let store = open_store(options).await?;
    let components = Arc::new(new_components(options, &config)?);
    let cache = &options.cache_dir;
    let stored = crate::store::read(&store, |s| s.components()).await?;
    let known: HashSet<Digest> = stored.into_iter().map(|c| c.digest).collect();
    let mut loaded = Loaded::new(jsapp::deploy::Apps::new(cache.join("js")));
    load_components(&config, &components, &known, &mut loaded).await?;
    for (path, grant) in &config.apps {
        load_app(path, grant, &components, &known, &mut loaded).await?;
    }
    let Loaded {
        puts,
        configured,
        grants,
        starters: app_starters,
        apps,
    } = loaded;
    let mut starters = config.starters.clone();
    starters.extend(app_starters);
    check_routes(options, &starters)?;
    // Keep every component's bytes, so instances pinned to a digest can resume after the file
    // on disk changes.
    store.write(puts).await?;
    check_starter_targets(&config, &components)?;
    let (master, key_source) = master_key(options)?;
    let test_clock = options.test_clock.then(|| Arc::new(OffsetClock::default()));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(c) => Arc::clone(c) as Arc<dyn Clock>,
        None => Arc::new(SystemClock),
    };
    let executor = Executor::new(
        store,
        Arc::clone(&components) as Arc<dyn crate::runtime::Runtime>,
        clock,
        ExecutorOptions {
            idle_evict: options.idle_evict,
            max_queued: options.max_queued,
            versioning: config.versioning.clone(),
        },
    );
    let deployer = Arc::new(Deployer::new(
        Arc::clone(&executor),
        Arc::clone(&components),
        grants,
    ));
    deployer
        .restore(&configured)
        .await
        .map_err(|e| ServeError::Setup(format!("restoring the deployed components: {e}")))?;
    let recovered = executor.recover().await?;
    let files = watched_files(&config);
    let state = Arc::new(AppState {
        executor,
        keys: Keys::new(master, config.keys),
        starters,
        auth_levels: config.auth_levels,
        test_clock,
        deployer,
        apps: Arc::new(apps),
        prefix: http::WEBHOOK_PREFIX,
    });
    Ok(Host {
        state,
        key_source,
        recovered,
        files,
    })
}

/// Starter routes must not collide with each other or with the built-in routes.
/// The store `--store` names (see its help).
async fn open_store(options: &ServeOptions) -> Result<Arc<dyn Store>, ServeError> {
    let path = match options.store.as_deref() {
        None => options.data_dir.join("durable.sqlite"),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let lease = LeaseOptions {
                host_id: host_id(options)?,
                ttl: options.lease_ttl,
                renew: options.lease_renew,
            };
            tracing::info!(host = %lease.host_id, "store: PostgreSQL at {}", redact(url));
            let store = PostgresStore::open(PostgresOptions::new(url, lease)).await?;
            return Ok(store);
        }
        Some(other) => match other.strip_prefix("sqlite:") {
            Some(path) => PathBuf::from(path.trim_start_matches("//")),
            None => {
                return Err(ServeError::Setup(format!(
                    "--store {other:?}: expected postgres://USER@HOST:PORT/DB or sqlite:PATH"
                )));
            }
        },
    };
    Ok(SqliteStore::open(StoreOptions::new(path))?)
}

/// This host's id in a shared store: `--host-id`, or the one kept in the data dir (made up on
/// the first start from the machine's name and a random suffix), so a restarted host takes its
/// own partitions back at once.
fn host_id(options: &ServeOptions) -> Result<String, ServeError> {
    if let Some(id) = &options.host_id {
        return Ok(id.clone());
    }
    let path = options.data_dir.join("host-id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_owned());
    }
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let id = match machine.is_empty() {
        true => format!("host-{suffix}"),
        false => format!("{machine}-{suffix}"),
    };
    std::fs::write(&path, format!("{id}\n"))
        .map_err(|e| ServeError::Setup(format!("writing {}: {e}", path.display())))?;
    Ok(id)
}

/// A store URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn check_routes(options: &ServeOptions, starters: &[Starter]) -> Result<(), ServeError> {
    http::check_starter_routes(starters).map_err(|message| {
        ServeError::Config(crate::config::ConfigError::Invalid {
            path: options.config.display().to_string(),
            message,
        })
    })
}

/// The sandboxes, sized by the options and the largest activity grant.
fn new_components(options: &ServeOptions, config: &Config) -> Result<Components, ServeError> {
    let max_activity_memory = config
        .activities
        .iter()
        .map(|(_, grant)| grant.memory_bytes)
        .max()
        .unwrap_or(64 << 20);
    let limits = OrchestratorLimits {
        max_hot_instances: options.max_hot_instances,
        fuel_per_turn: options.fuel_per_turn.max(1),
        ..OrchestratorLimits::default()
    };
    let cache = options.cache_dir.join("wasmtime");
    Ok(Components::new(limits, max_activity_memory, Some(&cache))?)
}

/// Every configured starter names an orchestration that some component exports.
fn check_starter_targets(config: &Config, components: &Components) -> Result<(), ServeError> {
    for starter in &config.starters {
        if components
            .orchestration_digest(&starter.orchestration)
            .is_none()
        {
            return Err(ServeError::Setup(format!(
                "starter route {} names orchestration '{}', which no configured component exports (known: {})",
                starter.route,
                starter.orchestration,
                components.orchestration_names().join(", ")
            )));
        }
    }
    Ok(())
}

/// The files `--watch` follows: configured components and JS apps.
fn watched_files(config: &Config) -> Vec<(Watched, PathBuf)> {
    let orchestrators = config.orchestrators.iter();
    let orchestrators = orchestrators.map(|p| (Watched::Component(Kind::Orchestrator), p.clone()));
    let activities = config.activities.iter();
    let activities = activities.map(|(p, _)| (Watched::Component(Kind::Activity), p.clone()));
    let apps = config.apps.iter().map(|(p, _)| (Watched::App, p.clone()));
    orchestrators.chain(activities).chain(apps).collect()
}

/// What loading the configured components produced.
struct Loaded {
    /// Every component's bytes, to keep in the store.
    puts: Vec<Op>,
    /// (kind, digest, names, new to the store) for the deployer.
    configured: Vec<(Kind, Digest, Vec<String>, bool)>,
    grants: HashMap<String, ActivityGrant>,
    /// JS apps' HTTP functions.
    starters: Vec<http::Starter>,
    /// The JS apps, for deployments of new versions.
    apps: jsapp::deploy::Apps,
}

impl Loaded {
    fn new(apps: jsapp::deploy::Apps) -> Self {
        Loaded {
            puts: Vec::new(),
            configured: Vec::new(),
            grants: HashMap::new(),
            starters: Vec::new(),
            apps,
        }
    }

    /// An activity component: its names keep `grant` (a new version inherits it).
    fn record_activity(
        &mut self,
        ids: (Digest, Vec<String>),
        bytes: Vec<u8>,
        grant: &ActivityGrant,
        known: &HashSet<Digest>,
    ) {
        for name in &ids.1 {
            self.grants.insert(name.clone(), grant.clone());
        }
        self.record(Kind::Activity, ids, bytes, known);
    }

    fn record(
        &mut self,
        kind: Kind,
        (digest, names): (Digest, Vec<String>),
        bytes: Vec<u8>,
        known: &HashSet<Digest>,
    ) {
        self.configured.push((
            kind,
            digest.clone(),
            names.clone(),
            !known.contains(&digest),
        ));
        self.puts.push(Op::PutComponent {
            digest,
            kind,
            names,
            bytes: Arc::new(bytes),
            added_ms: SystemClock.now_ms(),
        });
    }
}

async fn load_components(
    config: &Config,
    components: &Components,
    known: &HashSet<Digest>,
    loaded: &mut Loaded,
) -> Result<(), ServeError> {
    for path in &config.orchestrators {
        let (bytes, what) = read_component(path)?;
        let (digest, names) = components.add_orchestrator(&what, &bytes).await?;
        tracing::info!(component = %what, %digest, ?names, "orchestrator loaded");
        loaded.record(Kind::Orchestrator, (digest, names), bytes, known);
    }
    for path in &config.entities {
        // Entities are served from the configured file (not kept in the store, no hot swap).
        let (bytes, what) = read_component(path)?;
        let (digest, names) = components.add_entity(&what, &bytes).await?;
        tracing::info!(component = %what, %digest, ?names, "entities loaded");
    }
    for (path, grant) in &config.activities {
        let (bytes, what) = read_component(path)?;
        let (digest, names) = components
            .add_activity(&what, &bytes, grant.clone())
            .await?;
        tracing::info!(component = %what, %digest, ?names, "activities loaded");
        loaded.record_activity((digest, names), bytes, grant, known);
    }
    Ok(())
}

/// Builds (or takes from the cache) a JS app's components and loads those it needs: its
/// orchestrations, its activities (with the app's grant) and its HTTP functions.
async fn load_app(
    path: &Path,
    grant: &ActivityGrant,
    components: &Components,
    known: &HashSet<Digest>,
    loaded: &mut Loaded,
) -> Result<(), ServeError> {
    let what = path.display().to_string();
    let built = jsapp::build(path, loaded.apps.cache())
        .await
        .map_err(|source| ServeError::App {
            path: what.clone(),
            source,
        })?;
    // A role the app registers nothing for is loaded (to read its names) but not kept.
    let ids = components
        .add_orchestrator(&format!("{what} (orchestrations)"), &built.orchestrator)
        .await?;
    if !ids.1.is_empty() {
        tracing::info!(app = %what, digest = %ids.0, names = ?ids.1, "JS orchestrations loaded");
        loaded.record(Kind::Orchestrator, ids, built.orchestrator, known);
    }
    let ids = components
        .add_activity(
            &format!("{what} (activities)"),
            &built.activity,
            grant.clone(),
        )
        .await?;
    if !ids.1.is_empty() {
        tracing::info!(app = %what, digest = %ids.0, names = ?ids.1, "JS activities loaded");
        loaded.record_activity(ids, built.activity, grant, known);
    }
    let functions = format!("{what} (HTTP functions)");
    let starter = Arc::new(components.starters.load(&functions, &built.starter).await?);
    let slot = jsapp::deploy::FunctionSlot::new(Arc::clone(&starter));
    for route in &starter.routes {
        loaded.starters.push(js_starter(&what, route, &slot)?);
    }
    let routes = starter.routes.clone();
    loaded
        .apps
        .serve(jsapp::shown_name(path), grant.clone(), routes, slot);
    Ok(())
}

/// The route of an `app.http` function: below `/api/`, as Azure Functions serves it.
fn js_starter(
    app: &str,
    route: &crate::runtime::starter::HttpRoute,
    functions: &Arc<jsapp::deploy::FunctionSlot>,
) -> Result<http::Starter, ServeError> {
    let auth_level = match route.auth_level.to_ascii_lowercase().as_str() {
        "anonymous" => http::AuthLevel::Anonymous,
        "function" => http::AuthLevel::Function,
        "admin" | "system" => http::AuthLevel::Admin,
        other => {
            return Err(ServeError::Setup(format!(
                "{app}: app.http '{}' has authLevel '{other}' (use anonymous, function or admin)",
                route.name
            )));
        }
    };
    Ok(http::Starter {
        route: format!("/api/{}", route.route.trim_start_matches('/')),
        orchestration: String::new(),
        auth_level,
        function: Some(http::functions::JsFunction {
            name: route.name.clone(),
            methods: route.methods.clone(),
            functions: Arc::clone(functions),
        }),
    })
}

fn read_component(path: &Path) -> Result<(Vec<u8>, String), ServeError> {
    let what = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        ServeError::Load(LoadError::Read {
            path: format!("{what} (build the guests with `make build`)"),
            source: e,
        })
    })?;
    Ok((bytes, what))
}

/// Creates the data directory readable by its owner only (it holds the history and the master
/// key). An existing directory is the operator's and is left as it is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A master key must be as hard to guess as a function key.
fn checked_key(key: String, from: &str) -> Result<String, ServeError> {
    let n = key.chars().count();
    if n < crate::config::MIN_KEY_LEN {
        return Err(ServeError::Setup(format!(
            "the master key from {from} has {n} characters, shorter than {}; use 32 random \
             characters (e.g. `openssl rand -hex 16`), or unset it and a key is generated",
            crate::config::MIN_KEY_LEN
        )));
    }
    Ok(key)
}

fn master_key(options: &ServeOptions) -> Result<(String, KeySource), ServeError> {
    if let Some(key) = options.master_key.as_ref().filter(|k| !k.is_empty()) {
        let key = checked_key(key.clone(), "DURABLE_MASTER_KEY / --master-key")?;
        return Ok((key, KeySource::Environment));
    }
    let path = options.data_dir.join("master.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = text.trim().to_owned();
        if !key.is_empty() {
            let key = checked_key(key, &path.display().to_string())?;
            return Ok((key, KeySource::File(path)));
        }
    }
    let key = http::generate_key_for_host()
        .map_err(|e| ServeError::Setup(format!("generating a key: {e}")))?;
    write_private(&path, &key)
        .map_err(|e| ServeError::Setup(format!("saving {}: {e}", path.display())))?;
    Ok((key, KeySource::Generated(path)))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Builds the host, binds, prints the banner, and serves until `shutdown` resolves.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let host = build(&options).await?;
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: options.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: options.listen.clone(),
        source,
    })?;
    // One shutdown signal for both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let draining = Arc::clone(&host.state.executor);
    tokio::spawn(async move {
        shutdown.await;
        // From now on no activity call starts, and results of running ones go to the disk.
        draining.begin_drain();
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let rpc = match &options.rpc_listen {
        None => None,
        Some(rpc_addr) => Some(start_rpc(&host, rpc_addr, stopped(stop_rx.clone())).await?),
    };
    print_banner(&host, addr, rpc.as_ref().map(|(a, _)| *a));
    if options.watch {
        println!(
            "watching {} component and app file(s) for changes",
            host.files.len()
        );
        tokio::spawn(watch_files(Arc::clone(&host.state), host.files.clone()));
    }
    let result = http::run(
        listener,
        http::app(Arc::clone(&host.state)),
        stopped(stop_rx),
    )
    .await;
    if let Some((_, task)) = rpc {
        let _ = task.await;
    }
    finish(&host.state.executor, options.shutdown_grace).await;
    result.map_err(|source| ServeError::Listen {
        addr: addr.to_string(),
        source,
    })
}

/// Binds the loopback RPC listener (the management API without keys) and serves it until
/// `stopped`.
async fn start_rpc(
    host: &Host,
    rpc_addr: &str,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>), ServeError> {
    let listen_error = |source| ServeError::Listen {
        addr: rpc_addr.to_owned(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(rpc_addr)
        .await
        .map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    if !bound.ip().is_loopback() {
        return Err(ServeError::Setup(format!(
            "--rpc-listen {rpc_addr}: the RPC listener serves the management API without keys, \
             so it only binds loopback addresses (127.0.0.1 or [::1]); use --rpc-listen off to disable it"
        )));
    }
    let state = Arc::new(AppState {
        executor: Arc::clone(&host.state.executor),
        keys: host.state.keys.opened(),
        starters: Vec::new(),
        test_clock: None,
        deployer: Arc::clone(&host.state.deployer),
        apps: Arc::clone(&host.state.apps),
        auth_levels: Default::default(),
        prefix: http::RPC_PREFIX,
    });
    let serve_rpc = http::run(listener, http::rpc_app(state, bound.port()), stopped);
    Ok((bound, tokio::spawn(serve_rpc)))
}

/// After the listeners stopped: no new work is accepted any more. Activity calls already
/// running may finish within the grace period (their results are written to the inbox, so
/// they do not run again); then what was already queued reaches the disk. Turns not yet
/// submitted, and calls still running, resume from the history on the next start.
async fn finish(executor: &Executor, grace: std::time::Duration) {
    let unfinished = executor.drain(grace).await;
    if unfinished > 0 {
        tracing::warn!(
            "{unfinished} activity calls still running after {grace:?}; they run again on the next start"
        );
    }
    let flush = executor.flush();
    match tokio::time::timeout(std::time::Duration::from_secs(10), flush).await {
        Ok(Ok(())) => tracing::info!("store flushed; exiting"),
        Ok(Err(e)) => tracing::warn!("flushing the store failed: {e}"),
        Err(_) => tracing::warn!("flushing the store took longer than 10 s; exiting anyway"),
    }
    // A shared store: the other hosts take this one's partitions now, not when leases expire.
    let leave = executor.store().leave();
    match tokio::time::timeout(std::time::Duration::from_secs(5), leave).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(
            "handing partitions over failed (they move when their leases expire): {e}"
        ),
        Err(_) => tracing::warn!("handing partitions over took longer than 5 s; exiting anyway"),
    }
}

/// How often `--watch` looks at the component files.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(300);

/// `--watch`: deploys a component or app file again when its size or modification time
/// changes (and has stopped changing, so a file still being written is not taken half-done).
async fn watch_files(state: Arc<AppState>, files: Vec<(Watched, PathBuf)>) {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    let mut seen: Vec<_> = files.iter().map(|(_, p)| stamp(p)).collect();
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        for ((what, path), last) in files.iter().zip(seen.iter_mut()) {
            let now = stamp(path);
            if now.is_none() || now == *last {
                continue;
            }
            tokio::time::sleep(WATCH_EVERY).await;
            if stamp(path) != now {
                continue; // still being written; look again next round
            }
            *last = now;
            redeploy(&state, *what, path).await;
        }
    }
}

/// Deploys a changed file, logging what happened (a refused version leaves the old one serving).
async fn redeploy(state: &AppState, what: Watched, path: &Path) {
    let shown = path.display();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => return tracing::warn!("{shown} changed but cannot be read: {e}"),
    };
    let done = match what {
        Watched::Component(kind) => state
            .deployer
            .deploy(kind, bytes, true)
            .await
            .map(|d| format!("{} {} ({})", kind.as_str(), d.digest, d.names.join(", ")))
            .map_err(|e| e.to_string()),
        Watched::App => match String::from_utf8(bytes) {
            Err(_) => Err("it is not UTF-8 text".to_owned()),
            Ok(source) => state
                .apps
                .deploy(
                    &state.deployer,
                    &jsapp::shown_name(path),
                    source,
                    jsapp::deploy::AppMode::Activate,
                )
                .await
                .map(|d| d.summary())
                .map_err(|e| e.to_string()),
        },
    };
    match done {
        Ok(what) => tracing::info!("{shown} changed: deployed {what}"),
        Err(e) => tracing::warn!("{shown} changed but was refused: {e}"),
    }
}

fn print_banner(host: &Host, addr: SocketAddr, rpc: Option<SocketAddr>) {
    let key = host.state.keys.master();
    let source = match &host.key_source {
        KeySource::Environment => "from DURABLE_MASTER_KEY".to_owned(),
        KeySource::File(p) => format!("kept in {}", p.display()),
        KeySource::Generated(p) => format!("generated, kept in {}", p.display()),
    };
    let names = host
        .state
        .deployer
        .components()
        .orchestration_names()
        .join(", ");
    println!("durable-wasm listening on http://{addr}");
    println!("master key ({source}): {key}");
    println!("orchestrations: {names}");
    if let Some(rpc) = rpc {
        println!(
            "management RPC without keys (loopback only) on http://{rpc}{}/",
            http::RPC_PREFIX
        );
    }
    if host.recovered > 0 {
        println!("resumed {} unfinished instance(s)", host.recovered);
    }
    if let Some(starter) = host.state.starters.first() {
        println!("try:");
        println!(
            "  curl -s -X POST 'http://{addr}{}?code={key}' -H 'content-type: application/json' \\\n    -d '{{\"orderId\":\"A-1001\",\"customerId\":\"C-42\",\"items\":[{{\"sku\":\"SKU-1\",\"qty\":2}}]}}'",
            starter.route
        );
        println!("  then GET the statusQueryGetUri from the answer.");
    }
}
