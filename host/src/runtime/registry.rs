//! Which component serves which name, and orchestrators by digest.
//!
//! Components are content-addressed (`sha256:<hex>`). An orchestration name routes to the digest
//! new instances start on; instances already running stay on the digest they recorded in
//! `ExecutionStarted`, which remains loadable here (and from the store) after a newer one appears.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ids::Digest;

use super::activity::{ActivityGrant, ActivitySandbox, LoadedActivity};
use super::entity::{EntitySandbox, LoadedEntity};
use super::error::LoadError;
use super::orchestrator::{LoadedOrchestrator, OrchestratorLimits, OrchestratorSandbox};
use super::starter::StarterSandbox;

/// The content address of a component (see [`Digest`]).
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest::of(bytes)
}

/// The loaded components and the routing of names to them.
pub struct Components {
    pub orchestrators: Arc<OrchestratorSandbox>,
    pub activities: Arc<ActivitySandbox>,
    pub starters: Arc<StarterSandbox>,
    pub entities: Arc<EntitySandbox>,
    /// Entity name (lower-cased) to the component serving it.
    entity_routes: RwLock<HashMap<String, (Digest, Arc<LoadedEntity>)>>,
    orchestration_routes: RwLock<HashMap<String, Digest>>,
    orchestrators_by_digest: RwLock<HashMap<Digest, Arc<LoadedOrchestrator>>>,
    activities_by_digest: RwLock<HashMap<Digest, Arc<LoadedActivity>>>,
    activity_routes: RwLock<HashMap<String, (Digest, Arc<LoadedActivity>)>>,
}

impl Components {
    /// `max_activity_memory` is the largest memory cap of any activity grant.
    /// `cache`: where compiled code is kept between runs (`None`: compile at every start).
    pub fn new(
        limits: OrchestratorLimits,
        max_activity_memory: usize,
        cache: Option<&std::path::Path>,
    ) -> Result<Self, LoadError> {
        let entities = Arc::new(EntitySandbox::new(limits.clone(), cache)?);
        let orchestrators = Arc::new(OrchestratorSandbox::new(limits, cache)?);
        let starters = StarterSandbox::new(orchestrators.memory_bytes(), cache)?;
        Ok(Components {
            orchestrators,
            starters,
            entities,
            entity_routes: RwLock::new(HashMap::new()),
            activities: ActivitySandbox::new(max_activity_memory, cache)?,
            orchestration_routes: RwLock::new(HashMap::new()),
            orchestrators_by_digest: RwLock::new(HashMap::new()),
            activities_by_digest: RwLock::new(HashMap::new()),
            activity_routes: RwLock::new(HashMap::new()),
        })
    }

    /// Loads an orchestrator component (without routing any name to it).
    pub async fn load_orchestrator(
        &self,
        what: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Vec<String>), LoadError> {
        let digest = digest_of(bytes);
        if let Some(existing) = read(&self.orchestrators_by_digest).get(&digest) {
            return Ok((digest, existing.names.clone()));
        }
        let loaded = self.orchestrators.load(what, bytes).await?;
        let names = loaded.names.clone();
        write(&self.orchestrators_by_digest).insert(digest.clone(), Arc::new(loaded));
        Ok((digest, names))
    }

    /// Loads an orchestrator and routes every name it exports to it. Refuses a name that another
    /// component given in the same configuration already serves (`what` is the component's label).
    pub async fn add_orchestrator(
        &self,
        what: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Vec<String>), LoadError> {
        let (digest, names) = self.load_orchestrator(what, bytes).await?;
        let mut routes = write(&self.orchestration_routes);
        for name in &names {
            if let Some(other) = routes.get(name)
                && *other != digest
            {
                return Err(LoadError::DuplicateName {
                    name: "orchestration",
                    item: name.clone(),
                    first: other.to_string(),
                    second: what.to_owned(),
                });
            }
        }
        for name in &names {
            routes.insert(name.clone(), digest.clone());
        }
        Ok((digest, names))
    }

    /// Loads an entity component and routes every entity name it exports to it (refusing a
    /// name another component already serves).
    pub async fn add_entity(
        &self,
        what: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Vec<String>), LoadError> {
        let digest = digest_of(bytes);
        let loaded = Arc::new(self.entities.load(what, bytes).await?);
        let names = loaded.names.clone();
        let mut routes = write(&self.entity_routes);
        for name in &names {
            if let Some((other, _)) = routes.get(name)
                && *other != digest
            {
                return Err(LoadError::DuplicateName {
                    name: "entity",
                    item: name.clone(),
                    first: other.to_string(),
                    second: what.to_owned(),
                });
            }
        }
        for name in &names {
            routes.insert(name.clone(), (digest.clone(), Arc::clone(&loaded)));
        }
        Ok((digest, names))
    }

    /// The component serving entity `name` (lower-cased).
    pub fn entity_route(&self, name: &str) -> Option<(Digest, Arc<LoadedEntity>)> {
        read(&self.entity_routes).get(name).cloned()
    }

    /// Loads an activity component with its grant and routes every name it exports to it.
    pub async fn add_activity(
        &self,
        what: &str,
        bytes: &[u8],
        grant: ActivityGrant,
    ) -> Result<(Digest, Vec<String>), LoadError> {
        let (digest, names) = self.load_activity(what, bytes, grant).await?;
        {
            let routes = read(&self.activity_routes);
            for name in &names {
                if let Some((other, _)) = routes.get(name)
                    && *other != digest
                {
                    return Err(LoadError::DuplicateName {
                        name: "activity",
                        item: name.clone(),
                        first: other.to_string(),
                        second: what.to_owned(),
                    });
                }
            }
        }
        self.route_activities(&digest);
        Ok((digest, names))
    }

    /// Loads an activity component with its grant (without routing any name to it).
    pub async fn load_activity(
        &self,
        what: &str,
        bytes: &[u8],
        grant: ActivityGrant,
    ) -> Result<(Digest, Vec<String>), LoadError> {
        let digest = digest_of(bytes);
        if let Some(existing) = read(&self.activities_by_digest).get(&digest) {
            return Ok((digest, existing.names.clone()));
        }
        let loaded = Arc::new(self.activities.load(what, bytes, grant).await?);
        let names = loaded.names.clone();
        write(&self.activities_by_digest).insert(digest.clone(), loaded);
        Ok((digest, names))
    }

    /// Like [`Components::load_activity`], with the grant chosen from the names the component
    /// exports (a new version inherits its predecessor's grant).
    pub async fn load_activity_with(
        &self,
        what: &str,
        bytes: &[u8],
        grant_for: impl FnOnce(&[String]) -> ActivityGrant,
    ) -> Result<(Digest, Vec<String>), LoadError> {
        let digest = digest_of(bytes);
        if let Some(existing) = read(&self.activities_by_digest).get(&digest) {
            return Ok((digest, existing.names.clone()));
        }
        let mut loaded = self
            .activities
            .load(what, bytes, ActivityGrant::default())
            .await?;
        loaded.grant = grant_for(&loaded.names);
        let names = loaded.names.clone();
        write(&self.activities_by_digest).insert(digest.clone(), Arc::new(loaded));
        Ok((digest, names))
    }

    /// Routes every name `digest` exports to it, all at once: a call that starts after this
    /// returns uses the new component, calls already running finish on the old one.
    pub fn route_activities(&self, digest: &Digest) -> bool {
        let Some(loaded) = read(&self.activities_by_digest)
            .get(digest.as_str())
            .cloned()
        else {
            return false;
        };
        let mut routes = write(&self.activity_routes);
        for name in &loaded.names {
            routes.insert(name.clone(), (digest.clone(), Arc::clone(&loaded)));
        }
        true
    }

    /// Routes every orchestration name `digest` exports to it (new instances start on it;
    /// running instances stay on the digest they started with).
    pub fn route_orchestrations(&self, digest: &Digest) -> bool {
        let Some(loaded) = self.loaded_orchestrator(digest.as_str()) else {
            return false;
        };
        let mut routes = write(&self.orchestration_routes);
        for name in &loaded.names {
            routes.insert(name.clone(), digest.clone());
        }
        true
    }

    pub fn has_activity(&self, digest: &str) -> bool {
        read(&self.activities_by_digest).contains_key(digest)
    }

    /// The digest new instances of orchestration `name` start on.
    pub fn orchestration_digest(&self, name: &str) -> Option<Digest> {
        read(&self.orchestration_routes).get(name).cloned()
    }

    pub fn loaded_orchestrator(&self, digest: &str) -> Option<Arc<LoadedOrchestrator>> {
        read(&self.orchestrators_by_digest).get(digest).cloned()
    }

    /// The component serving activity `name`, with its digest.
    pub fn activity_route(&self, name: &str) -> Option<(Digest, Arc<LoadedActivity>)> {
        read(&self.activity_routes).get(name).cloned()
    }

    pub fn orchestration_names(&self) -> Vec<String> {
        let mut names: Vec<String> = read(&self.orchestration_routes).keys().cloned().collect();
        names.sort();
        names
    }
}

// A poisoned lock only means another thread panicked while holding it; the maps stay usable.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            digest_of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
