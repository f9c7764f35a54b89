//! Rust stand-ins behind the executor's narrow traits, for unit tests on paused tokio time: a
//! runtime whose orchestrators are scripts of steps played against the real replay engine
//! ([`Execution`]) through a real [`Session`], activities that count their calls and fail on
//! demand, and a clock that follows tokio's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::engine::{Decision, Execution, Failure, Outcome, Poll, WaitMode};
use crate::ids::{Digest, TaskId};
use crate::runtime::activity::{ActivityResult, RetryGrant};
use crate::runtime::orchestrator::{GuestLink, RunEnd, RunResult, Session, Stop};
use crate::runtime::{Activity, LoadError, Orchestrator, Runtime};

/// One step of a scripted orchestration; each gets the previous step's output.
#[derive(Debug, Clone)]
pub enum Step {
    /// Calls the activity with the previous output as input.
    Activity(&'static str),
    /// Waits this long on a durable timer (the output stays).
    Timer(Duration),
    /// Waits for the external event; its input is the output.
    Event(&'static str),
}

/// A runtime of scripted orchestrations and fake activities.
#[derive(Default)]
pub struct FakeRuntime {
    scripts: HashMap<String, Arc<[Step]>>,
    activities: HashMap<String, Arc<FakeActivity>>,
}

impl FakeRuntime {
    pub fn orchestration(mut self, name: &str, steps: &[Step]) -> Self {
        self.scripts.insert(name.to_owned(), steps.into());
        self
    }

    pub fn activity(mut self, activity: FakeActivity) -> Self {
        self.activities
            .insert(activity.name.to_owned(), Arc::new(activity));
        self
    }

    /// Calls of activity `name` so far.
    pub fn calls(&self, name: &str) -> u32 {
        self.activities[name].calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn orchestration_digest(&self, name: &str) -> Option<Digest> {
        let digest = || Digest::from_trusted(format!("fake:{name}"));
        self.scripts.contains_key(name).then(digest)
    }

    fn max_hot_instances(&self) -> usize {
        16
    }

    fn orchestrator(&self, digest: &str) -> Option<Arc<dyn Orchestrator>> {
        let steps = self.scripts.get(digest.strip_prefix("fake:")?)?;
        Some(Arc::new(Scripted(Arc::clone(steps))))
    }

    async fn load_orchestrator(&self, what: &str, _bytes: &[u8]) -> Result<(), LoadError> {
        Err(LoadError::Invalid {
            what: what.to_owned(),
            reason: "the fake runtime loads no components".to_owned(),
        })
    }

    fn activity(&self, name: &str) -> Option<Arc<dyn Activity>> {
        let activity = self.activities.get(name)?;
        Some(Arc::clone(activity) as Arc<dyn Activity>)
    }
}

/// An activity whose result is `"<name>(<input>)"` (a JSON string), after `delay`; its first
/// `failures` calls fail.
pub struct FakeActivity {
    pub name: &'static str,
    pub delay: Duration,
    pub failures: u32,
    pub retry: Option<RetryGrant>,
    pub calls: AtomicU32,
    pub digest: Digest,
}

impl FakeActivity {
    pub fn new(name: &'static str) -> Self {
        FakeActivity {
            name,
            delay: Duration::ZERO,
            failures: 0,
            retry: None,
            calls: AtomicU32::new(0),
            digest: Digest::from_trusted("fake:activities".to_owned()),
        }
    }
}

#[async_trait]
impl Activity for FakeActivity {
    fn digest(&self) -> &Digest {
        &self.digest
    }

    fn slots(&self) -> Option<&Semaphore> {
        None
    }

    fn retry(&self) -> Option<&RetryGrant> {
        self.retry.as_ref()
    }

    async fn invoke(
        &self,
        name: &str,
        input: &str,
        _tag: &str,
        _trace: Option<&crate::trace::TraceContext>,
    ) -> ActivityResult {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        if call <= self.failures {
            return ActivityResult::failed(format!("{name} failed on call {call}"));
        }
        let input: String = serde_json::from_str(input).unwrap_or_else(|_| input.to_owned());
        ActivityResult::Completed(serde_json::Value::String(format!("{name}({input})")).to_string())
    }
}

/// A scripted orchestrator version.
struct Scripted(Arc<[Step]>);

#[async_trait]
impl Orchestrator for Scripted {
    fn start(&self, exec: Execution, _parent: Option<String>) -> Session<'_> {
        let steps = Arc::clone(&self.0);
        Session::new(move |link| play(steps, exec, link))
    }

    async fn replay(&self, exec: Execution) -> RunResult {
        play(Arc::clone(&self.0), exec, GuestLink::replay_only()).await
    }
}

/// How a script ends early.
enum Halt {
    Failed(Failure),
    Stopped(Stop),
}

async fn play(steps: Arc<[Step]>, mut exec: Execution, link: GuestLink) -> RunResult {
    let end = match run(&steps, &mut exec, &link).await {
        Ok(output) => RunEnd::Completed(output),
        Err(Halt::Failed(failure)) => RunEnd::Failed(failure),
        Err(Halt::Stopped(stop)) => RunEnd::Stopped(stop),
    };
    RunResult {
        exec,
        custom_status: None,
        end,
    }
}

async fn run(steps: &[Step], exec: &mut Execution, link: &GuestLink) -> Result<String, Halt> {
    let mut value = exec.input().to_owned();
    for step in steps {
        let task = match step {
            Step::Event(name) => exec.wait_for_event(name),
            Step::Activity(name) => decide(
                exec,
                Decision::ScheduleActivity {
                    name: (*name).to_owned(),
                    input: value.clone(),
                },
            )?,
            Step::Timer(after) => decide(
                exec,
                Decision::CreateTimer {
                    fire_at_ms: exec.current_time_ms() + after.as_millis() as u64,
                },
            )?,
        };
        let outcome = wait(exec, link, task).await?;
        match (step, outcome) {
            (Step::Timer(_), Outcome::Completed(_)) => {}
            (_, Outcome::Completed(output)) => value = output,
            (_, Outcome::Failed(failure)) => return Err(Halt::Failed(failure)),
        }
    }
    Ok(value)
}

fn decide(exec: &mut Execution, decision: Decision) -> Result<TaskId, Halt> {
    let decided = exec.decide(decision);
    decided
        .map(|(task, _new)| task)
        .map_err(|n| Halt::Failed(Failure::new(n.to_string())))
}

/// Waits for `task`, ending turns until the history holds its outcome.
async fn wait(exec: &mut Execution, link: &GuestLink, task: TaskId) -> Result<Outcome, Halt> {
    loop {
        match exec.poll(&[task], WaitMode::All) {
            Ok(Poll::All(mut outcomes)) => return Ok(outcomes.remove(0)),
            Ok(Poll::Blocked) => link.end_turn(exec, None).await.map_err(Halt::Stopped)?,
            Ok(Poll::Any(..)) => unreachable!("wait-all answered as wait-any"),
            Err(refused) => return Err(Halt::Failed(Failure::new(refused.to_string()))),
        }
    }
}

/// Wall-clock time that moves with tokio's clock (paused in tests), from a fixed origin.
pub struct TokioClock {
    origin_ms: u64,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Arc<Self> {
        Arc::new(TokioClock {
            origin_ms: 1_700_000_000_000,
            start: tokio::time::Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.origin_ms + self.start.elapsed().as_millis() as u64
    }
}
