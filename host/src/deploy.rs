//! Deploying components while the host runs: validate, store content-addressed, route names to
//! the new digest atomically, persist the routing (it survives restarts), roll back by
//! re-activating an older digest, and check an orchestrator against in-flight histories first.
//!
//! Activity calls resolve their component when they start, so calls already running finish on
//! the old one. Orchestration instances are pinned to the digest they started with: a new
//! orchestrator only affects new instances.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::executor::Executor;
use crate::ids::Digest;
use crate::runtime::LoadError;
use crate::runtime::activity::ActivityGrant;
use crate::runtime::dry_run::replay_check;
use crate::runtime::registry::digest_of;
use crate::runtime::{Components, Runtime};
use crate::store::{self, ListQuery, Op, Route, StoreError, StoredComponent};

pub use crate::store::ComponentKind as Kind;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no stored component has digest {0}")]
    UnknownDigest(String),
}

/// What a deployment did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    pub digest: Digest,
    pub kind: Kind,
    pub names: Vec<String>,
    pub activated: bool,
    /// For an orchestrator checked against in-flight instances: those that would diverge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divergent: Option<Vec<Divergence>>,
    /// How many in-flight instances were checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<usize>,
    /// With migration: the instances moved onto this version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrated: Option<Vec<String>>,
}

/// An in-flight instance whose history the new orchestrator would not replay.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Divergence {
    pub instance_id: String,
    pub reason: String,
}

/// Deploys components and restores the routing at start-up.
pub struct Deployer {
    executor: Arc<Executor>,
    components: Arc<Components>,
    /// Grants from the configuration, by activity name: a new version of an activity inherits
    /// its predecessor's grant (and a name nobody configured gets nothing).
    grants: HashMap<String, ActivityGrant>,
}

impl Deployer {
    pub fn new(
        executor: Arc<Executor>,
        components: Arc<Components>,
        grants: HashMap<String, ActivityGrant>,
    ) -> Self {
        Deployer {
            executor,
            components,
            grants,
        }
    }

    /// The components the host runs.
    pub fn components(&self) -> &Components {
        &self.components
    }

    /// The grant a component exporting `names` gets: that of the first name configured.
    pub fn grant_for(&self, names: &[String]) -> ActivityGrant {
        names
            .iter()
            .find_map(|n| self.grants.get(n).cloned())
            .unwrap_or_default()
    }

    /// Validates and stores a component; with `activate`, routes its names to it.
    pub async fn deploy(
        &self,
        kind: Kind,
        bytes: Vec<u8>,
        activate: bool,
    ) -> Result<Deployed, DeployError> {
        let components = &self.components;
        let what = format!("uploaded {} {}", kind.as_str(), digest_of(&bytes));
        let (digest, names) = match kind {
            Kind::Orchestrator => components.load_orchestrator(&what, &bytes).await?,
            Kind::Activity => {
                let grants = &self.grants;
                components
                    .load_activity_with(&what, &bytes, |names| {
                        names
                            .iter()
                            .find_map(|n| grants.get(n).cloned())
                            .unwrap_or_default()
                    })
                    .await?
            }
        };
        self.executor
            .store()
            .write(vec![Op::PutComponent {
                digest: digest.clone(),
                kind,
                names: names.clone(),
                bytes: Arc::new(bytes),
                added_ms: self.executor.now_ms(),
            }])
            .await?;
        if activate {
            self.route(kind, &digest, &names).await?;
        }
        Ok(Deployed {
            digest,
            kind,
            names,
            activated: activate,
            divergent: None,
            checked: None,
            migrated: None,
        })
    }

    /// Persists and applies a routing of `names` to `digest`.
    async fn route(
        &self,
        kind: Kind,
        digest: &Digest,
        names: &[String],
    ) -> Result<(), DeployError> {
        self.executor
            .store()
            .write(vec![Op::Activate {
                kind,
                names: names.to_vec(),
                digest: digest.clone(),
                activated_ms: self.executor.now_ms(),
            }])
            .await?;
        let components = &self.components;
        match kind {
            Kind::Orchestrator => components.route_orchestrations(digest),
            Kind::Activity => components.route_activities(digest),
        };
        tracing::info!(kind = kind.as_str(), %digest, ?names, "activated");
        Ok(())
    }

    /// Re-activates a stored component (a rollback, or a roll-forward again).
    pub async fn activate(&self, digest: &str) -> Result<Deployed, DeployError> {
        let stored = self.stored(digest).await?;
        let (kind, digest) = (stored.kind, &stored.digest);
        self.ensure_loaded(kind, digest, &stored.names).await?;
        self.route(kind, digest, &stored.names).await?;
        Ok(Deployed {
            digest: digest.clone(),
            kind,
            names: stored.names,
            activated: true,
            divergent: None,
            checked: None,
            migrated: None,
        })
    }

    async fn stored(&self, digest: &str) -> Result<StoredComponent, DeployError> {
        let all = store::read(self.executor.store(), |s| s.components()).await?;
        all.into_iter()
            .find(|c| c.digest.as_str() == digest)
            .ok_or_else(|| DeployError::UnknownDigest(digest.to_owned()))
    }

    /// Makes sure a stored component is compiled and loaded.
    async fn ensure_loaded(
        &self,
        kind: Kind,
        digest: &Digest,
        names: &[String],
    ) -> Result<(), DeployError> {
        let components = &self.components;
        let loaded = match kind {
            Kind::Orchestrator => components.loaded_orchestrator(digest.as_str()).is_some(),
            Kind::Activity => components.has_activity(digest.as_str()),
        };
        if loaded {
            return Ok(());
        }
        let key = digest.to_string();
        let bytes = store::read(self.executor.store(), move |s| s.component(&key))
            .await?
            .ok_or_else(|| DeployError::UnknownDigest(digest.to_string()))?;
        let what = format!("stored {} {digest}", kind.as_str());
        match kind {
            Kind::Orchestrator => {
                components.load_orchestrator(&what, &bytes).await?;
            }
            Kind::Activity => {
                components
                    .load_activity(&what, &bytes, self.grant_for(names))
                    .await?;
            }
        }
        Ok(())
    }

    /// The stored components and the current routing.
    pub async fn list(&self) -> Result<(Vec<StoredComponent>, Vec<Route>), DeployError> {
        let components = store::read(self.executor.store(), |s| s.components()).await?;
        let routes = store::read(self.executor.store(), |s| s.routes()).await?;
        Ok((components, routes))
    }

    /// Start-up: components named in the configuration and not seen before are activated (a
    /// rebuilt file is a new deployment); otherwise the persisted routing wins, so deployments
    /// and rollbacks survive restarts.
    pub async fn restore(
        &self,
        configured: &[(Kind, Digest, Vec<String>, bool)],
    ) -> Result<(), DeployError> {
        let mut routes = store::read(self.executor.store(), |s| s.routes()).await?;
        for (kind, digest, names, is_new) in configured {
            let unrouted: Vec<String> = names
                .iter()
                .filter(|n| !routes.iter().any(|r| r.kind == *kind && &r.name == *n))
                .cloned()
                .collect();
            let to_route = if *is_new { names.clone() } else { unrouted };
            if !to_route.is_empty() {
                self.executor
                    .store()
                    .write(vec![Op::Activate {
                        kind: *kind,
                        names: to_route,
                        digest: digest.clone(),
                        activated_ms: self.executor.now_ms(),
                    }])
                    .await?;
            }
        }
        routes = store::read(self.executor.store(), |s| s.routes()).await?;
        let mut by_digest: HashMap<(Kind, Digest), Vec<String>> = HashMap::new();
        for r in routes {
            by_digest
                .entry((r.kind, r.digest))
                .or_default()
                .push(r.name);
        }
        for ((kind, digest), names) in by_digest {
            self.ensure_loaded(kind, &digest, &names).await?;
            let components = &self.components;
            match kind {
                Kind::Orchestrator => components.route_orchestrations(&digest),
                Kind::Activity => components.route_activities(&digest),
            };
        }
        Ok(())
    }

    /// Replays every in-flight instance of the component's orchestrations against it, without
    /// activating anything, and reports those whose history it would not reproduce.
    pub async fn check_orchestrator(&self, bytes: Vec<u8>) -> Result<Deployed, DeployError> {
        let components = &self.components;
        let what = format!("uploaded orchestrator {}", digest_of(&bytes));
        let (digest, names) = components.load_orchestrator(&what, &bytes).await?;
        let check = self.check_in_flight(&digest, &names).await?;
        Ok(Deployed {
            digest,
            kind: Kind::Orchestrator,
            names,
            activated: false,
            divergent: Some(check.divergent),
            checked: Some(check.checked),
            migrated: None,
        })
    }

    /// Deploys and activates an orchestrator, then moves every in-flight instance of its
    /// orchestrations that it replays exactly onto it (each is checked again by its own actor
    /// just before it moves, since its history may have grown meanwhile). Instances it would
    /// not reproduce stay on their version and are listed as divergent.
    pub async fn deploy_and_migrate(&self, bytes: Vec<u8>) -> Result<Deployed, DeployError> {
        let mut deployed = self.deploy(Kind::Orchestrator, bytes, true).await?;
        let check = self
            .check_in_flight(&deployed.digest, &deployed.names)
            .await?;
        let mut migrated = Vec::new();
        for id in check.compatible {
            match self.executor.migrate(&id, deployed.digest.clone()).await {
                Ok(()) => migrated.push(id.to_string()),
                // Finished meanwhile: nothing to move.
                Err(StoreError::InstanceFinished(_) | StoreError::NoSuchInstance(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        deployed.divergent = Some(check.divergent);
        deployed.checked = Some(check.checked);
        deployed.migrated = Some(migrated);
        Ok(deployed)
    }

    /// Replays the in-flight instances of `names` not already on `digest` against it.
    async fn check_in_flight(
        &self,
        digest: &Digest,
        names: &[String],
    ) -> Result<InFlightCheck, DeployError> {
        let components = &self.components;
        let orchestrator = Runtime::orchestrator(components.as_ref(), digest.as_str())
            .ok_or_else(|| DeployError::UnknownDigest(digest.to_string()))?;
        let unfinished = store::read(self.executor.store(), |s| {
            s.list(&ListQuery {
                statuses: vec![
                    crate::engine::RuntimeStatus::Pending,
                    crate::engine::RuntimeStatus::Running,
                    crate::engine::RuntimeStatus::Suspended,
                ],
                limit: 100_000,
                ..ListQuery::default()
            })
        })
        .await?;
        let mut check = InFlightCheck::default();
        for instance in unfinished
            .into_iter()
            .filter(|i| names.contains(&i.name) && i.orchestrator_digest != *digest)
        {
            let lookup = instance.instance_id.clone();
            let history = store::read(self.executor.store(), move |s| s.history(&lookup)).await?;
            let Some(verdict) = replay_check(orchestrator.as_ref(), &instance, history).await
            else {
                continue;
            };
            check.checked += 1;
            match verdict {
                // A suspended instance holds its events in memory: it is not moved (resume
                // it, then migrate).
                Ok(()) if instance.status == crate::engine::RuntimeStatus::Suspended => {}
                Ok(()) => check.compatible.push(instance.instance_id),
                Err(mismatch) => check.divergent.push(Divergence {
                    instance_id: instance.instance_id.to_string(),
                    reason: mismatch.0,
                }),
            }
        }
        Ok(check)
    }
}

#[derive(Default)]
struct InFlightCheck {
    checked: usize,
    compatible: Vec<crate::ids::InstanceId>,
    divergent: Vec<Divergence>,
}
