//! `durable.toml`: which components serve which names, their grants, and the starter routes.
//!
//! ```toml
//! [[orchestrators]]
//! component = "target/guests/orchestrator.wasm"
//!
//! [[entities]]            # durable entities (the `entity` world)
//! component = "target/guests/entities.wasm"
//!
//! [[activities]]
//! component = "target/guests/activities.wasm"
//! timeout_secs = 60      # optional
//! memory_mib = 64        # optional
//! env = ["GREETING"]     # host environment variables passed through, by name
//! connect = ["127.0.0.1:8080"]   # outbound TCP/UDP allowed to these addresses only
//! max_result_kib = 1024  # a larger result fails the call
//! max_concurrency = 8    # calls of this component at once
//! reuse_instances = false   # true: calls may share an instance (the default for [[apps]])
//! retry = { max_attempts = 3, first_delay_ms = 100, backoff = 2.0, max_delay_ms = 60000 }
//! [[activities.dirs]]    # preopened directories (cap-std: nothing outside them)
//! host = "data"          # relative to this file
//! guest = "/data"
//! access = "read-only"   # or "read-write"
//!
//! [[starters]]
//! route = "/api/orchestrators/order-processing"
//! orchestration = "orderProcessingOrchestrator"
//! auth_level = "function"   # anonymous | function | admin
//!
//! [[keys]]                  # named function keys (the master key is always accepted)
//! name = "dashboard"
//! env = "DASHBOARD_KEY"     # or value = "..." (local use only)
//!
//! [auth_levels]             # per route, by the operation id /openapi.json lists
//! getStatus = "anonymous"
//! purgeInstances = "admin"
//!
//! [versioning]              # Durable Functions' orchestration versioning (names as in host.json)
//! defaultVersion = "2.0"             # stamped on new instances; this host's version
//! versionMatchStrategy = "CurrentOrOlder"   # None | Strict | CurrentOrOlder
//! versionFailureStrategy = "Reject"  # Reject (leave it for a matching host) | Fail
//! ```
//! Component paths are relative to the file's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::executor::{FailureStrategy, MatchStrategy, Versioning};
use crate::http::{AuthLevel, Starter};
use crate::runtime::activity::{ActivityGrant, DirGrant, RetryGrant};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config {path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    orchestrators: Vec<RawComponent>,
    /// Durable entities' components.
    #[serde(default)]
    entities: Vec<RawComponent>,
    #[serde(default)]
    activities: Vec<RawActivity>,
    #[serde(default)]
    starters: Vec<RawStarter>,
    /// JavaScript apps (Durable Functions Node.js v4 files).
    #[serde(default)]
    apps: Vec<RawApp>,
    /// Named function keys.
    #[serde(default)]
    keys: Vec<RawKey>,
    /// Auth level per route, by the operation id `/openapi.json` lists.
    #[serde(default)]
    auth_levels: std::collections::BTreeMap<String, AuthLevel>,
    #[serde(default)]
    versioning: RawVersioning,
}

/// `[versioning]`, with Durable Functions' host.json names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVersioning {
    default_version: Option<String>,
    #[serde(default)]
    version_match_strategy: MatchStrategy,
    #[serde(default)]
    version_failure_strategy: FailureStrategy,
}

/// A named function key: its value from the environment (`env`) or, for local use, inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    env: Option<String>,
    value: Option<String>,
}

/// Shortest function key accepted.
pub(crate) const MIN_KEY_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    component: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActivity {
    component: PathBuf,
    timeout_secs: Option<u64>,
    memory_mib: Option<u64>,
    /// Host environment variables passed through, by name.
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    /// `IP:port` addresses the activity may connect to.
    #[serde(default)]
    connect: Vec<String>,
    /// Largest result a call may return, KiB (default 1024).
    max_result_kib: Option<u64>,
    /// Calls of this component that may run at once.
    max_concurrency: Option<usize>,
    /// Host-side retries of failed calls.
    retry: Option<RawRetry>,
    /// Calls may share an instance (default: false here, true for `[[apps]]`).
    reuse_instances: Option<bool>,
}

/// `[[apps]]`: a JavaScript file, with the grant its activities get (the keys of
/// `[[activities]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    js: PathBuf,
    timeout_secs: Option<u64>,
    memory_mib: Option<u64>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    connect: Vec<String>,
    max_result_kib: Option<u64>,
    max_concurrency: Option<usize>,
    retry: Option<RawRetry>,
    reuse_instances: Option<bool>,
}

impl RawApp {
    /// The app's path and its activities' grant, read as an `[[activities]]` entry.
    fn split(self) -> (PathBuf, RawActivity) {
        let activity = RawActivity {
            component: self.js.clone(),
            timeout_secs: self.timeout_secs,
            memory_mib: self.memory_mib,
            env: self.env,
            dirs: self.dirs,
            connect: self.connect,
            max_result_kib: self.max_result_kib,
            max_concurrency: self.max_concurrency,
            retry: self.retry,
            // As in Node, where every invocation runs in one process.
            reuse_instances: Some(self.reuse_instances.unwrap_or(true)),
        };
        (self.js, activity)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: u32,
    #[serde(default = "default_first_delay_ms")]
    first_delay_ms: u64,
    #[serde(default = "default_backoff")]
    backoff: f64,
    #[serde(default = "default_max_delay_ms")]
    max_delay_ms: u64,
}

fn default_first_delay_ms() -> u64 {
    100
}
fn default_backoff() -> f64 {
    2.0
}
fn default_max_delay_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    host: PathBuf,
    guest: String,
    #[serde(default)]
    access: Access,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Access {
    #[default]
    ReadOnly,
    ReadWrite,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStarter {
    route: String,
    orchestration: String,
    #[serde(default)]
    auth_level: AuthLevel,
}

/// The parsed configuration, with paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub orchestrators: Vec<PathBuf>,
    /// Durable entities' components (`[[entities]]`).
    pub entities: Vec<PathBuf>,
    pub activities: Vec<(PathBuf, ActivityGrant)>,
    pub starters: Vec<Starter>,
    /// JavaScript apps, with the grant of their activities.
    pub apps: Vec<(PathBuf, ActivityGrant)>,
    /// Function keys' values (their names only need to be unique).
    pub keys: Vec<String>,
    /// Auth levels set per route (operation id).
    pub auth_levels: std::collections::HashMap<String, AuthLevel>,
    /// `[versioning]`.
    pub versioning: Versioning,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")), path)
    }

    /// Parses `text`; `base` is the directory component paths are relative to.
    pub fn parse(text: &str, base: &Path, path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: shown.clone(),
            message,
        };
        let mut starters = Vec::new();
        for s in raw.starters {
            if !s.route.starts_with('/') {
                return Err(invalid(format!(
                    "starter route '{}' must start with '/'",
                    s.route
                )));
            }
            starters.push(Starter {
                route: s.route,
                orchestration: s.orchestration,
                auth_level: s.auth_level,
                function: None,
            });
        }
        let mut activities = Vec::new();
        for a in raw.activities {
            let grant = grant_of(&a, base, &invalid)?;
            activities.push((base.join(a.component), grant));
        }
        let mut apps = Vec::new();
        for app in raw.apps {
            let (js, a) = app.split();
            let grant = grant_of(&a, base, &invalid)?;
            apps.push((base.join(js), grant));
        }
        let keys = keys_of(raw.keys, &invalid)?;
        let auth_levels = auth_levels_of(raw.auth_levels, &invalid)?;
        let v = raw.versioning;
        Ok(Config {
            keys,
            auth_levels,
            versioning: Versioning {
                default_version: v.default_version.filter(|d| !d.is_empty()),
                match_strategy: v.version_match_strategy,
                failure_strategy: v.version_failure_strategy,
            },
            orchestrators: raw
                .orchestrators
                .into_iter()
                .map(|o| base.join(o.component))
                .collect(),
            entities: raw
                .entities
                .into_iter()
                .map(|e| base.join(e.component))
                .collect(),
            activities,
            starters,
            apps,
        })
    }
}

/// The API keys, each from the environment or the file, long enough and uniquely named.
fn keys_of(
    raw: Vec<RawKey>,
    invalid: &dyn Fn(String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    let mut keys = Vec::new();
    let mut names = std::collections::HashSet::new();
    for k in raw {
        if k.name.is_empty() || !names.insert(k.name.clone()) {
            return Err(invalid(format!(
                "key names must be non-empty and unique ('{}')",
                k.name
            )));
        }
        let value = match (&k.env, &k.value) {
            (Some(var), None) => std::env::var(var).map_err(|_| {
                invalid(format!(
                    "key '{}' is read from environment variable {var}, which is not set",
                    k.name
                ))
            })?,
            (None, Some(v)) => v.clone(),
            _ => {
                return Err(invalid(format!(
                    "key '{}' needs exactly one of env = \"VARIABLE\" or value = \"...\"",
                    k.name
                )));
            }
        };
        if value.len() < MIN_KEY_LEN {
            return Err(invalid(format!(
                "key '{}' is shorter than {MIN_KEY_LEN} characters; use 32 random characters (e.g. `openssl rand -hex 16`)",
                k.name
            )));
        }
        keys.push(value);
    }
    Ok(keys)
}

/// Per-route auth levels: the route must exist, and an admin route cannot be lowered. An
/// alias's operation id sets the level of its route (one level for all of its paths).
fn auth_levels_of(
    raw: std::collections::BTreeMap<String, AuthLevel>,
    invalid: &dyn Fn(String) -> ConfigError,
) -> Result<std::collections::HashMap<String, AuthLevel>, ConfigError> {
    let mut auth_levels = std::collections::HashMap::new();
    for (id, level) in raw {
        let route = crate::http::Route::named(&id).ok_or_else(|| {
            let aliases = |r: &'static crate::http::Route| r.also_at.iter().map(|a| a.id);
            let ids = crate::http::ROUTES.iter().map(|r| r.id);
            let known: Vec<&str> = ids
                .chain(crate::http::ROUTES.iter().flat_map(aliases))
                .collect();
            invalid(format!(
                "auth_levels names route '{id}', which does not exist (known: {})",
                known.join(", ")
            ))
        })?;
        if route.level == AuthLevel::Admin && level != AuthLevel::Admin {
            return Err(invalid(format!(
                "route '{id}' is admin-only; its auth level cannot be lowered"
            )));
        }
        match auth_levels.insert(route.id.to_owned(), level) {
            Some(other) if other != level => {
                return Err(invalid(format!(
                    "auth_levels gives route '{}' two levels ({} names it too): one level serves all of its paths",
                    route.id, id
                )));
            }
            _ => {}
        }
    }
    Ok(auth_levels)
}

/// The capabilities part of a grant: environment, directories, outbound addresses.
fn grant_capabilities(
    a: &RawActivity,
    base: &Path,
    invalid: &dyn Fn(String) -> ConfigError,
    grant: &mut ActivityGrant,
) -> Result<(), ConfigError> {
    for name in &a.env {
        let value = std::env::var(name).map_err(|_| {
            invalid(format!(
                "activity {} is granted environment variable {name}, which is not set on the host",
                a.component.display()
            ))
        })?;
        grant.env.push((name.clone(), value));
    }
    for dir in &a.dirs {
        if !dir.guest.starts_with('/') {
            return Err(invalid(format!(
                "guest path '{}' must be absolute, e.g. /data",
                dir.guest
            )));
        }
        let host = base.join(&dir.host);
        if !host.is_dir() {
            return Err(invalid(format!(
                "granted directory {} does not exist",
                host.display()
            )));
        }
        grant.dirs.push(DirGrant {
            host,
            guest: dir.guest.clone(),
            writable: dir.access == Access::ReadWrite,
        });
    }
    for addr in &a.connect {
        let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
            invalid(format!(
                "connect entry '{addr}' must be IP:port, e.g. 127.0.0.1:8080"
            ))
        })?;
        grant.connect.push(parsed);
    }
    Ok(())
}

/// The grant an `[[activities]]` (or `[[apps]]`) entry describes.
fn grant_of(
    a: &RawActivity,
    base: &Path,
    invalid: &dyn Fn(String) -> ConfigError,
) -> Result<ActivityGrant, ConfigError> {
    let mut grant = ActivityGrant::default();
    if let Some(secs) = a.timeout_secs {
        if secs == 0 {
            return Err(invalid("activity timeout_secs must be at least 1".into()));
        }
        grant.timeout = Duration::from_secs(secs);
    }
    if let Some(mib) = a.memory_mib {
        if !(1..=4096).contains(&mib) {
            return Err(invalid(
                "activity memory_mib must be between 1 and 4096".into(),
            ));
        }
        grant.memory_bytes = (mib as usize) << 20;
    }
    grant_capabilities(a, base, invalid, &mut grant)?;
    if let Some(kib) = a.max_result_kib {
        if !(1..=65_536).contains(&kib) {
            return Err(invalid(
                "activity max_result_kib must be between 1 and 65536".into(),
            ));
        }
        grant.max_result_bytes = (kib as usize) << 10;
    }
    if let Some(n) = a.max_concurrency {
        if n == 0 {
            return Err(invalid(
                "activity max_concurrency must be at least 1".into(),
            ));
        }
        grant.max_concurrency = Some(n);
    }
    grant.reuse_instances = a.reuse_instances.unwrap_or(false);
    if let Some(r) = &a.retry {
        if !(2..=100).contains(&r.max_attempts)
            || !r.backoff.is_finite()
            || r.backoff < 1.0
            || r.max_delay_ms < r.first_delay_ms
        {
            return Err(invalid(
                    "activity retry needs max_attempts from 2 to 100, backoff >= 1 and max_delay_ms >= first_delay_ms".into(),
                ));
        }
        grant.retry = Some(RetryGrant {
            max_attempts: r.max_attempts,
            first_delay: Duration::from_millis(r.first_delay_ms),
            backoff: r.backoff,
            max_delay: Duration::from_millis(r.max_delay_ms),
        });
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_shape_and_resolves_paths() {
        let text = r#"
            [[orchestrators]]
            component = "g/o.wasm"
            [[activities]]
            component = "g/a.wasm"
            timeout_secs = 5
            [[starters]]
            route = "/api/orchestrators/order-processing"
            orchestration = "orderProcessingOrchestrator"
        "#;
        let c = Config::parse(text, Path::new("/base"), Path::new("/base/durable.toml")).unwrap();
        assert_eq!(c.orchestrators, vec![PathBuf::from("/base/g/o.wasm")]);
        assert_eq!(c.activities[0].1.timeout, Duration::from_secs(5));
        assert_eq!(c.starters[0].auth_level, AuthLevel::Function);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err = Config::parse(
            "[[orchestrators]]\npath = 'x'",
            Path::new("."),
            Path::new("d.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = Config::parse(
            "[[activities]]\ncomponent = 'a'\ntimeout_secs = 0",
            Path::new("."),
            Path::new("d.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("timeout_secs"), "{err}");
    }
}
