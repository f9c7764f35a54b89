//! Deploying a new version of a served JS app while the host runs (`durable deploy app`,
//! `POST /admin/apps/{name}`, `durable serve --watch`).
//!
//! The new source is built into its three role components as at start-up (or taken from the
//! build cache); then its activities and its orchestrations go through the [`Deployer`] like
//! any uploaded component — stored by digest, activated, checked against or migrated onto
//! in-flight instances, which otherwise stay pinned to the version they started on — and its
//! HTTP functions replace the old ones behind the same routes. Requests already running finish
//! on the old functions.
//!
//! The routes are part of the host's router, built at start: a version that adds, drops or
//! changes an `app.http` route (path, methods, auth level) is refused before anything is
//! stored, with a message saying a restart serves it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::{BuiltApp, JsBuildError};
use crate::deploy::{DeployError, Deployed, Deployer, Kind};
use crate::runtime::LoadError;
use crate::runtime::activity::ActivityGrant;
use crate::runtime::starter::{HttpRoute, LoadedStarter};

/// The HTTP-function component a served app's routes call; a deployment swaps it.
pub struct FunctionSlot(RwLock<Arc<LoadedStarter>>);

impl FunctionSlot {
    pub fn new(component: Arc<LoadedStarter>) -> Arc<Self> {
        Arc::new(FunctionSlot(RwLock::new(component)))
    }

    /// The component serving requests now.
    pub fn current(&self) -> Arc<LoadedStarter> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn replace(&self, component: Arc<LoadedStarter>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = component;
    }
}

/// What a deployment does (of an app, or with [`AppMode::Store`], of a component).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    /// Store and activate every role.
    Activate,
    /// Store only, route nothing (components only: refused for apps).
    Store,
    /// Replay in-flight instances against the new orchestrations; store and route nothing.
    Check,
    /// Activate, then move the in-flight instances the new orchestrations replay exactly.
    Migrate,
}

/// Why a deployment of an app was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppDeployError {
    #[error("no JS app named '{name}' is served here (served: {served})")]
    UnknownApp { name: String, served: String },
    #[error(
        "two [[apps]] entries are named '{0}': deploy one of them again under a distinct file name"
    )]
    Ambiguous(String),
    #[error("{name}: {source}")]
    Build { name: String, source: JsBuildError },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(
        "{name}: its app.http routes changed ({what}); routes are set when the host starts, so nothing was deployed: restart the host to serve them"
    )]
    RoutesChanged { name: String, what: String },
    #[error(
        "{0}: an app is deployed activated or checked, not stored only: its HTTP functions are swapped when it is deployed and are not kept apart to activate later"
    )]
    StoreOnly(String),
    #[error("{0}: registers no orchestration to check (df.app.orchestration)")]
    NothingToCheck(String),
    #[error("building the app stopped unexpectedly: {0}")]
    Join(String),
}

/// What a deployment of an app did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDeployed {
    pub app: String,
    /// Its orchestrations' component, if it registers any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<Deployed>,
    /// Its activities' component, if it registers any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Deployed>,
    /// Its HTTP functions, and whether requests now reach the new ones.
    pub functions: Vec<String>,
    pub functions_swapped: bool,
}

impl AppDeployed {
    /// One line for a log: which digests now serve what.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("app {}", self.app)];
        for d in [&self.orchestrator, &self.activity].into_iter().flatten() {
            parts.push(format!(
                "{} {} ({})",
                d.kind.as_str(),
                d.digest,
                d.names.join(", ")
            ));
        }
        if self.functions_swapped && !self.functions.is_empty() {
            parts.push(format!("HTTP functions {}", self.functions.join(", ")));
        }
        parts.join("; ")
    }
}

/// A JS app the host serves.
struct ServedApp {
    name: String,
    /// Its `[[apps]]` entry's grant: every version's activities get it.
    grant: ActivityGrant,
    routes: Vec<HttpRoute>,
    functions: Arc<FunctionSlot>,
}

/// The JS apps of the configuration, and how to deploy new versions of them.
pub struct Apps {
    served: Vec<ServedApp>,
    cache: PathBuf,
    /// One deployment of an app at a time (builds are heavy; routings must not interleave).
    busy: tokio::sync::Mutex<()>,
}

impl Apps {
    pub fn new(cache: PathBuf) -> Self {
        Apps {
            served: Vec::new(),
            cache,
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Records an app served at start-up, named as [`super::shown_name`] names it.
    pub fn serve(
        &mut self,
        name: String,
        grant: ActivityGrant,
        routes: Vec<HttpRoute>,
        functions: Arc<FunctionSlot>,
    ) {
        self.served.push(ServedApp {
            name,
            grant,
            routes,
            functions,
        });
    }

    /// Where built apps are cached.
    pub fn cache(&self) -> &std::path::Path {
        &self.cache
    }

    pub fn names(&self) -> Vec<String> {
        self.served.iter().map(|a| a.name.clone()).collect()
    }

    fn find(&self, name: &str) -> Result<&ServedApp, AppDeployError> {
        let mut found = self.served.iter().filter(|a| a.name == name);
        let app = found.next().ok_or_else(|| AppDeployError::UnknownApp {
            name: name.to_owned(),
            served: self.names().join(", "),
        })?;
        if found.next().is_some() {
            return Err(AppDeployError::Ambiguous(name.to_owned()));
        }
        Ok(app)
    }

    /// Builds `source` as a new version of the served app `name` and deploys it as `mode` says.
    /// Runs to its end on a blocking thread of its own, whatever happens to the caller:
    /// building and compiling take seconds of CPU that must not stall the runtime's workers,
    /// and a deployment dropped half-way (a client that hangs up) must not stop between its
    /// steps.
    pub async fn deploy(
        self: &Arc<Self>,
        deployer: &Arc<Deployer>,
        name: &str,
        source: String,
        mode: AppMode,
    ) -> Result<AppDeployed, AppDeployError> {
        let (apps, deployer, name) = (Arc::clone(self), Arc::clone(deployer), name.to_owned());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            runtime.block_on(apps.deploy_here(&deployer, &name, source, mode))
        })
        .await
        .map_err(|e| AppDeployError::Join(e.to_string()))?
    }

    async fn deploy_here(
        &self,
        deployer: &Deployer,
        name: &str,
        source: String,
        mode: AppMode,
    ) -> Result<AppDeployed, AppDeployError> {
        let served = self.find(name)?;
        if mode == AppMode::Store {
            return Err(AppDeployError::StoreOnly(name.to_owned()));
        }
        let _one_at_a_time = self.busy.lock().await;
        let built = super::build_source(name, &source, &self.cache)
            .await
            .map_err(|source| AppDeployError::Build {
                name: name.to_owned(),
                source,
            })?;
        let functions = deployer
            .components()
            .starters
            .load(&format!("{name} (HTTP functions)"), &built.starter)
            .await?;
        compare_routes(name, &served.routes, &functions.routes)?;
        let function_names = functions.routes.iter().map(|r| r.name.clone()).collect();
        let (orchestrations, activities) =
            role_names(&served.grant, deployer, name, &built).await?;
        let mut deployed = AppDeployed {
            app: name.to_owned(),
            orchestrator: None,
            activity: None,
            functions: function_names,
            functions_swapped: false,
        };
        if mode == AppMode::Check {
            if orchestrations.is_empty() {
                return Err(AppDeployError::NothingToCheck(name.to_owned()));
            }
            deployed.orchestrator = Some(deployer.check_orchestrator(built.orchestrator).await?);
            return Ok(deployed);
        }
        // Both are stored before either is routed, so a failure leaves the old version whole.
        let activity = (!activities.is_empty())
            .then_some(built.activity)
            .map(|bytes| deployer.deploy(Kind::Activity, bytes, false));
        let activity = match activity {
            Some(stored) => Some(stored.await?),
            None => None,
        };
        let orchestrator = (!orchestrations.is_empty()).then_some(built.orchestrator);
        let stored = match &orchestrator {
            Some(bytes) => Some(
                deployer
                    .deploy(Kind::Orchestrator, bytes.clone(), false)
                    .await?,
            ),
            None => None,
        };
        // Activities first: a new orchestration may call an activity that is new too.
        if let Some(stored) = activity {
            deployed.activity = Some(deployer.activate(stored.digest.as_str()).await?);
        }
        deployed.orchestrator = match (orchestrator, stored) {
            (Some(bytes), Some(_)) if mode == AppMode::Migrate => {
                Some(deployer.deploy_and_migrate(bytes).await?)
            }
            // Stored above: routing it is all that is left.
            (_, Some(stored)) => Some(deployer.activate(stored.digest.as_str()).await?),
            _ => None,
        };
        served.functions.replace(Arc::new(functions));
        deployed.functions_swapped = true;
        tracing::info!(app = %name, ?mode, "JS app deployed");
        Ok(deployed)
    }
}

/// The orchestration and activity names the built app registers (loading validates both
/// components before anything is stored).
async fn role_names(
    grant: &ActivityGrant,
    deployer: &Deployer,
    name: &str,
    built: &BuiltApp,
) -> Result<(Vec<String>, Vec<String>), AppDeployError> {
    let components = deployer.components();
    let (_, orchestrations) = components
        .load_orchestrator(&format!("{name} (orchestrations)"), &built.orchestrator)
        .await?;
    let (_, activities) = components
        .load_activity_with(&format!("{name} (activities)"), &built.activity, |_| {
            grant.clone()
        })
        .await?;
    Ok((orchestrations, activities))
}

/// Refuses a version whose routes differ from the served ones, saying how.
fn compare_routes(name: &str, old: &[HttpRoute], new: &[HttpRoute]) -> Result<(), AppDeployError> {
    let key = |r: &HttpRoute| {
        let mut methods = r.methods.clone();
        methods.sort();
        (
            r.name.clone(),
            r.route.trim_matches('/').to_owned(),
            methods,
            r.auth_level.to_ascii_lowercase(),
        )
    };
    let old: Vec<_> = old.iter().map(key).collect();
    let new: Vec<_> = new.iter().map(key).collect();
    let mut changes = Vec::new();
    for n in &new {
        match old.iter().find(|o| o.0 == n.0) {
            None => changes.push(format!("adds {} at /api/{}", n.0, n.1)),
            Some(o) if o != n => changes.push(format!("changes {}", n.0)),
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|n| n.0 == o.0)) {
        changes.push(format!("drops {}", o.0));
    }
    if changes.is_empty() {
        return Ok(());
    }
    Err(AppDeployError::RoutesChanged {
        name: name.to_owned(),
        what: changes.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, path: &str, methods: &[&str], auth: &str) -> HttpRoute {
        HttpRoute {
            name: name.into(),
            route: path.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            auth_level: auth.into(),
        }
    }

    #[test]
    fn a_version_may_change_its_handlers_but_not_its_routes() {
        let served = [route("start", "orders", &["POST"], "function")];
        let same = [route("start", "/orders", &["POST"], "Function")];
        assert!(compare_routes("a.js", &served, &same).is_ok());
        let moved = [route("start", "orders/v2", &["POST"], "function")];
        let err = compare_routes("a.js", &served, &moved)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("changes start") && err.contains("restart"),
            "{err}"
        );
        let more = [
            served[0].clone(),
            route("list", "orders", &["GET"], "function"),
        ];
        let err = compare_routes("a.js", &served, &more)
            .unwrap_err()
            .to_string();
        assert!(err.contains("adds list at /api/orders"), "{err}");
        let err = compare_routes("a.js", &served, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("drops start"), "{err}");
    }
}
