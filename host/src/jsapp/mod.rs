//! JavaScript apps (`[[apps]] js = "app.js"`): a Durable Functions Node.js v4 file, run by the
//! JS runtime component (QuickJS, built by cargo) in three roles — orchestrator, activity and HTTP
//! function. For each role the host evaluates the app in the runtime once and snapshots the
//! instance; the snapshot is an ordinary component (pinned by digest like any other), cached on
//! disk by the digest of what went into it, so an unchanged app is not rebuilt.

pub mod deploy;
mod segments;
mod snapshot;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::runtime::registry::digest_of;

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum JsBuildError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the JavaScript runtime component {path} is missing ({source}); `make build` builds it (or set DURABLE_JS_RUNTIME to its directory)"
    )]
    MissingRuntime {
        path: String,
        source: std::io::Error,
    },
    #[error("writing the build cache {path}: {source}")]
    Cache {
        path: String,
        source: std::io::Error,
    },
    /// The app's own code failed while it was evaluated (syntax error, unknown module, throw).
    #[error("{message}")]
    App {
        message: String,
        stack: Option<String>,
    },
    #[error("the JavaScript runtime trapped while evaluating the app: {0}")]
    Trapped(String),
    #[error("the JavaScript runtime: {0}")]
    Runtime(String),
}

/// The three roles an app's code runs in, each a component of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Orchestrator,
    Activity,
    Starter,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Orchestrator, Role::Activity, Role::Starter];

    pub fn label(self) -> &'static str {
        match self {
            Role::Orchestrator => "orchestrator",
            Role::Activity => "activity",
            Role::Starter => "http",
        }
    }

    fn runtime_file(self) -> &'static str {
        match self {
            Role::Orchestrator => "js-orchestrator.wasm",
            Role::Activity => "js-activity.wasm",
            Role::Starter => "js-starter.wasm",
        }
    }
}

/// An app's components, one per role.
pub struct BuiltApp {
    pub orchestrator: Vec<u8>,
    pub activity: Vec<u8>,
    pub starter: Vec<u8>,
}

/// Where the runtime components are: `DURABLE_JS_RUNTIME`, else `guests/` beside the
/// directory holding this executable (`target/release/durable` → `target/guests/`).
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DURABLE_JS_RUNTIME") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("guests")))
        .unwrap_or_else(|| PathBuf::from("target/guests"))
}

/// Builds (or takes from `cache_dir`) the components of the app at `path`.
pub async fn build(path: &Path, cache_dir: &Path) -> Result<BuiltApp, JsBuildError> {
    let source = std::fs::read_to_string(path).map_err(|source| JsBuildError::Read {
        path: path.display().to_string(),
        source,
    })?;
    build_source(&shown_name(path), &source, cache_dir).await
}

/// How errors and stacks name the app at `path`: its file name, as the config does, not by
/// where the host runs. Also the name a running app is deployed again under.
pub fn shown_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Builds (or takes from `cache_dir`) the components of an app's `source`, named `shown`.
pub async fn build_source(
    shown: &str,
    source: &str,
    cache_dir: &Path,
) -> Result<BuiltApp, JsBuildError> {
    let runtimes = runtime_dir();
    let mut built = Vec::new();
    for role in Role::ALL {
        built.push(role_component(role, &runtimes, shown, source, cache_dir).await?);
    }
    let starter = built.pop().unwrap_or_default();
    let activity = built.pop().unwrap_or_default();
    let orchestrator = built.pop().unwrap_or_default();
    Ok(BuiltApp {
        orchestrator,
        activity,
        starter,
    })
}

async fn role_component(
    role: Role,
    runtimes: &Path,
    shown: &str,
    source: &str,
    cache_dir: &Path,
) -> Result<Vec<u8>, JsBuildError> {
    let runtime_path = runtimes.join(role.runtime_file());
    let runtime = std::fs::read(&runtime_path).map_err(|source| JsBuildError::MissingRuntime {
        path: runtime_path.display().to_string(),
        source,
    })?;
    let key = cache_key(&runtime, shown, source);
    let cached = cache_dir.join(format!("{}-{}.wasm", role.label(), &key[7..23]));
    if let Ok(bytes) = std::fs::read(&cached) {
        return Ok(bytes);
    }
    let started = Instant::now();
    eprintln!("building JS app {shown} ({} role)...", role.label());
    let bytes = snapshot::snapshot(&runtime, shown, source, &cache_dir.join("wasmtime")).await?;
    eprintln!(
        "built JS app {shown} ({} role) in {:.1} s",
        role.label(),
        started.elapsed().as_secs_f64()
    );
    write_cache(cache_dir, &cached, &bytes)?;
    Ok(bytes)
}

/// How the host post-processes snapshots (jsapp::segments); changing it changes every key.
const SNAPSHOT_FORMAT: &str = "merged-data-segments-1";

/// What a snapshot depends on: the runtime component, how the host makes snapshots, the
/// file's name (it appears in stacks) and its source.
fn cache_key(runtime: &[u8], shown: &str, source: &str) -> String {
    let mut input = Vec::with_capacity(runtime.len() + shown.len() + source.len() + 2);
    input.extend_from_slice(digest_of(runtime).as_str().as_bytes());
    input.extend_from_slice(SNAPSHOT_FORMAT.as_bytes());
    input.push(0);
    input.extend_from_slice(shown.as_bytes());
    input.push(0);
    input.extend_from_slice(source.as_bytes());
    digest_of(&input).to_string()
}

fn write_cache(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), JsBuildError> {
    let fail = |source| JsBuildError::Cache {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    // Hosts sharing a cache may build the same app at once: each writes its own file.
    let tmp = crate::runtime::unique_temp(path);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(fail)
}
