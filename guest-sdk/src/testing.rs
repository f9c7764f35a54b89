//! Run orchestration functions natively against scripted results: no host, no wasm, a plain
//! `cargo test`.
//!
//! Activities and sub-orchestrations are replaced by closures, external events are queued in
//! advance, and timers fire as soon as nothing else can happen (virtual time jumps to them).
//! The run records every decision, so a test can assert what the orchestration *did* as well as
//! what it returned.
//!
//! ```ignore
//! let run = TestHost::new(json!({"orderId": "A", "customerId": "C"}))
//!     .activity("validateOrder", Ok)
//!     .activity("reserveInventory", |o| Ok(o))
//!     .activity("emitConfirmation", |_| Ok(json!({"status": "Confirmed"})))
//!     .run(order_processing);
//! assert_eq!(run.activity_calls(), ["validateOrder", "reserveInventory", "emitConfirmation"]);
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::{Context, EntityContext, EntityId, Error, Host, Json, LogLevel, Outcome, TaskId};

type Mock = Box<dyn Fn(Json) -> Result<Json, Error>>;
type EntityFn = Box<dyn Fn(&mut EntityContext) -> Result<Json, Error>>;

/// A decision the orchestration made, as recorded by [`TestHost`].
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Activity {
        name: String,
        input: Json,
    },
    SubOrchestration {
        name: String,
        instance_id: Option<String>,
        input: Json,
    },
    Timer {
        fire_at_ms: u64,
    },
    WaitForEvent {
        name: String,
    },
    /// An entity operation: called (the orchestration waits for its answer) or signalled.
    Entity {
        entity: EntityId,
        operation: String,
        input: Option<Json>,
        call: bool,
    },
}

/// What a test run produced.
#[derive(Debug)]
pub struct TestRun {
    pub result: Result<Json, Error>,
    pub decisions: Vec<Decision>,
    pub custom_status: Option<Json>,
    pub logs: Vec<(LogLevel, String)>,
    /// The input passed to `continue_as_new`, if the orchestration asked for a new execution.
    pub continued_as_new: Option<Json>,
    /// Virtual time when the run ended.
    pub final_time_ms: u64,
    /// Entities' states when the run ended, by (lower-cased name, key).
    pub entity_states: HashMap<(String, String), Json>,
}

impl TestRun {
    /// The state entity `name`/`key` was left with.
    pub fn entity_state(&self, name: &str, key: &str) -> Option<&Json> {
        self.entity_states
            .get(&(name.to_lowercase(), key.to_owned()))
    }

    /// Names of the activities called, in order.
    pub fn activity_calls(&self) -> Vec<&str> {
        self.decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Activity { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The successful output (panics with the error otherwise: this is for tests).
    pub fn output(&self) -> &Json {
        match &self.result {
            Ok(v) => v,
            Err(e) => panic!("the orchestration failed: {e}"),
        }
    }
}

enum TaskState {
    Done(Outcome),
    Timer(u64),
    Event(String),
}

struct State {
    now: u64,
    decisions: Vec<Decision>,
    tasks: Vec<TaskState>,
    events: HashMap<String, VecDeque<String>>,
    custom_status: Option<String>,
    logs: Vec<(LogLevel, String)>,
    guids: u64,
    continued_as_new: Option<String>,
}

/// A scripted stand-in for the durable host.
pub struct TestHost {
    input: String,
    instance_id: String,
    version: Option<String>,
    activities: HashMap<String, Mock>,
    sub_orchestrations: HashMap<String, Mock>,
    /// Entity functions by lower-cased name, and the state each entity has now.
    entities: HashMap<String, EntityFn>,
    entity_states: RefCell<HashMap<(String, String), String>>,
    state: RefCell<State>,
}

impl TestHost {
    pub fn new<I: Serialize>(input: I) -> Self {
        TestHost {
            input: serde_json::to_string(&input).expect("test input serializes"),
            instance_id: "test-instance".into(),
            version: None,
            activities: HashMap::new(),
            sub_orchestrations: HashMap::new(),
            entities: HashMap::new(),
            entity_states: RefCell::new(HashMap::new()),
            state: RefCell::new(State {
                now: 1_700_000_000_000,
                decisions: Vec::new(),
                tasks: Vec::new(),
                events: HashMap::new(),
                custom_status: None,
                logs: Vec::new(),
                guids: 0,
                continued_as_new: None,
            }),
        }
    }

    /// The instance's orchestration version (`Context::version`).
    pub fn version(mut self, version: &str) -> Self {
        self.version = Some(version.to_owned());
        self
    }

    /// Starts virtual time at `ms` since the epoch.
    pub fn at(self, ms: u64) -> Self {
        self.state.borrow_mut().now = ms;
        self
    }

    /// Mocks activity `name`.
    pub fn activity(
        mut self,
        name: &str,
        f: impl Fn(Json) -> Result<Json, Error> + 'static,
    ) -> Self {
        self.activities.insert(name.to_owned(), Box::new(f));
        self
    }

    /// Mocks sub-orchestration `name`.
    pub fn sub_orchestration(
        mut self,
        name: &str,
        f: impl Fn(Json) -> Result<Json, Error> + 'static,
    ) -> Self {
        self.sub_orchestrations.insert(name.to_owned(), Box::new(f));
        self
    }

    /// Serves entity `name` with `f` (the real entity function, say): operations the
    /// orchestration calls or signals run at once, in order, on state kept per key.
    pub fn entity(
        mut self,
        name: &str,
        f: impl Fn(&mut EntityContext) -> Result<Json, Error> + 'static,
    ) -> Self {
        self.entities.insert(name.to_lowercase(), Box::new(f));
        self
    }

    /// Runs an entity operation on the kept state, as the host would (a failure leaves it).
    fn run_entity(&self, entity: &EntityId, operation: &str, input: Option<String>) -> Outcome {
        let name = entity.name.to_lowercase();
        let Some(f) = self.entities.get(&name) else {
            return Outcome::Failed(Error::new(format!(
                "entity '{}' is not served in this test",
                entity.name
            )));
        };
        let slot = (name, entity.key.clone());
        let state = self.entity_states.borrow().get(&slot).cloned();
        let mut ctx = EntityContext::new(entity.clone(), operation, input, state);
        let output = f(&mut ctx);
        match ctx.finish(output) {
            Ok(effect) => {
                let mut states = self.entity_states.borrow_mut();
                match effect.state {
                    Some(state) => states.insert(slot, state),
                    None => states.remove(&slot),
                };
                Outcome::Completed(effect.output)
            }
            Err(e) => Outcome::Failed(Error {
                message: format!(
                    "Operation '{operation}' of entity '@{}@{}' failed: {}",
                    entity.name.to_lowercase(),
                    entity.key,
                    e.message
                ),
                details: e.details,
            }),
        }
    }

    /// Queues an external event; waits for `name` receive queued events in order.
    pub fn event<T: Serialize>(self, name: &str, data: T) -> Self {
        let data = serde_json::to_string(&data).expect("event data serializes");
        self.state
            .borrow_mut()
            .events
            .entry(name.to_owned())
            .or_default()
            .push_back(data);
        self
    }

    /// Runs `f` to its end.
    pub fn run<O: Serialize>(self, f: impl FnOnce(&Context) -> Result<O, Error>) -> TestRun {
        let result =
            f(&Context::new(&self)).and_then(|o| serde_json::to_value(o).map_err(Error::from));
        let state = self.state.into_inner();
        let entity_states = self
            .entity_states
            .into_inner()
            .into_iter()
            .filter_map(|(k, v)| Some((k, serde_json::from_str(&v).ok()?)))
            .collect();
        TestRun {
            entity_states,
            result,
            decisions: state.decisions,
            custom_status: state
                .custom_status
                .and_then(|s| serde_json::from_str(&s).ok()),
            logs: state.logs,
            continued_as_new: state
                .continued_as_new
                .and_then(|s| serde_json::from_str(&s).ok()),
            final_time_ms: state.now,
        }
    }

    fn push(&self, decision: Decision, task: TaskState) -> TaskId {
        let mut state = self.state.borrow_mut();
        state.decisions.push(decision);
        state.tasks.push(task);
        (state.tasks.len() - 1) as TaskId
    }

    fn call_mock(mocks: &HashMap<String, Mock>, what: &str, name: &str, input: &Json) -> Outcome {
        match mocks.get(name) {
            None => Outcome::Failed(Error::new(format!(
                "{what} '{name}' is not mocked in this test"
            ))),
            Some(f) => match f(input.clone()) {
                Ok(out) => Outcome::Completed(out.to_string()),
                Err(e) => Outcome::Failed(Error {
                    message: format!("{what} '{name}' failed: {}", e.message),
                    details: e.details,
                }),
            },
        }
    }

    /// Resolves task `id` if it can be resolved without advancing time past other work.
    fn try_resolve(&self, id: TaskId, allow_timers: bool) -> Result<Option<Outcome>, String> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let task = state
            .tasks
            .get_mut(id as usize)
            .ok_or_else(|| format!("cannot wait on task {id}: it was never scheduled"))?;
        let outcome = match task {
            TaskState::Done(o) => Some(o.clone()),
            TaskState::Event(name) => match state
                .events
                .get_mut(name.as_str())
                .and_then(VecDeque::pop_front)
            {
                Some(data) => {
                    let o = Outcome::Completed(data);
                    *task = TaskState::Done(o.clone());
                    Some(o)
                }
                None => None,
            },
            TaskState::Timer(fire_at) if allow_timers => {
                state.now = state.now.max(*fire_at);
                let o = Outcome::Completed("null".into());
                *task = TaskState::Done(o.clone());
                Some(o)
            }
            TaskState::Timer(_) => None,
        };
        Ok(outcome)
    }

    fn timer_fire_at(&self, id: TaskId) -> Option<u64> {
        match self.state.borrow().tasks.get(id as usize) {
            Some(TaskState::Timer(at)) => Some(*at),
            _ => None,
        }
    }
}

impl Host for TestHost {
    fn input(&self) -> String {
        self.input.clone()
    }
    fn instance_id(&self) -> String {
        self.instance_id.clone()
    }
    fn orchestration_name(&self) -> String {
        "test".into()
    }
    fn version(&self) -> Option<String> {
        self.version.clone()
    }
    fn current_time(&self) -> u64 {
        self.state.borrow().now
    }
    fn new_guid(&self) -> String {
        let mut state = self.state.borrow_mut();
        state.guids += 1;
        format!("00000000-0000-5000-8000-{:012x}", state.guids)
    }
    fn is_replaying(&self) -> bool {
        false
    }
    fn set_custom_status(&self, status: Option<String>) {
        self.state.borrow_mut().custom_status = status;
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.state
            .borrow_mut()
            .logs
            .push((level, message.to_owned()));
    }
    fn schedule_activity(&self, name: &str, input: String) -> TaskId {
        let input: Json = serde_json::from_str(&input).unwrap_or(Json::Null);
        let outcome = Self::call_mock(&self.activities, "Activity function", name, &input);
        let decision = Decision::Activity {
            name: name.to_owned(),
            input,
        };
        self.push(decision, TaskState::Done(outcome))
    }
    fn schedule_sub_orchestration(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: String,
    ) -> TaskId {
        let input: Json = serde_json::from_str(&input).unwrap_or(Json::Null);
        let outcome = Self::call_mock(&self.sub_orchestrations, "Sub-orchestration", name, &input);
        let decision = Decision::SubOrchestration {
            name: name.to_owned(),
            instance_id: instance_id.map(str::to_owned),
            input,
        };
        self.push(decision, TaskState::Done(outcome))
    }
    fn create_timer(&self, fire_at_ms: u64) -> TaskId {
        self.push(Decision::Timer { fire_at_ms }, TaskState::Timer(fire_at_ms))
    }
    fn call_entity(&self, entity: &EntityId, operation: &str, input: Option<String>) -> TaskId {
        let outcome = self.run_entity(entity, operation, input.clone());
        let decision = Decision::Entity {
            entity: entity.clone(),
            operation: operation.to_owned(),
            input: input.and_then(|i| serde_json::from_str(&i).ok()),
            call: true,
        };
        self.push(decision, TaskState::Done(outcome))
    }
    fn signal_entity(&self, entity: &EntityId, operation: &str, input: Option<String>) {
        // Nobody waits for a signal's outcome; the state changes all the same.
        let outcome = self.run_entity(entity, operation, input.clone());
        let decision = Decision::Entity {
            entity: entity.clone(),
            operation: operation.to_owned(),
            input: input.and_then(|i| serde_json::from_str(&i).ok()),
            call: false,
        };
        self.push(decision, TaskState::Done(outcome));
    }
    fn wait_for_event(&self, name: &str) -> TaskId {
        self.push(
            Decision::WaitForEvent {
                name: name.to_owned(),
            },
            TaskState::Event(name.to_owned()),
        )
    }
    fn wait_all(&self, tasks: &[TaskId]) -> Result<Vec<Outcome>, String> {
        tasks
            .iter()
            .map(|id| {
                self.try_resolve(*id, true)?.ok_or_else(|| {
                    format!("test script: task {id} waits for an event that was not queued, so it would wait forever")
                })
            })
            .collect()
    }
    fn wait_any(&self, tasks: &[TaskId]) -> Result<(u32, Outcome), String> {
        // Whatever is ready now wins; otherwise the earliest timer.
        for (i, id) in tasks.iter().enumerate() {
            if let Some(o) = self.try_resolve(*id, false)? {
                return Ok((i as u32, o));
            }
        }
        let earliest = tasks
            .iter()
            .enumerate()
            .filter_map(|(i, id)| self.timer_fire_at(*id).map(|at| (at, i, *id)))
            .min();
        match earliest {
            Some((_, i, id)) => {
                let o = self.try_resolve(id, true)?.ok_or("timer did not resolve")?;
                Ok((i as u32, o))
            }
            None => Err(
                "test script: none of the awaited tasks can complete (no queued event, no timer)"
                    .into(),
            ),
        }
    }
    fn continue_as_new(&self, input: String) {
        self.state.borrow_mut().continued_as_new = Some(input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryPolicy;
    use serde_json::json;

    fn chain(ctx: &Context) -> Result<Json, Error> {
        let a: Json = ctx.call_activity("a", &ctx.input::<Json>()?)?;
        ctx.call_activity("b", &a)
    }

    #[test]
    fn records_decisions_and_output() {
        let run = TestHost::new(json!(1))
            .activity("a", |x| Ok(json!(x.as_i64().unwrap() + 1)))
            .activity("b", |x| Ok(json!(x.as_i64().unwrap() * 10)))
            .run(chain);
        assert_eq!(run.activity_calls(), ["a", "b"]);
        assert_eq!(run.output(), &json!(20));
    }

    #[test]
    fn failures_read_like_durable_functions() {
        let run = TestHost::new(json!(1))
            .activity("a", |_| Err(Error::new("nope")))
            .run(chain);
        assert_eq!(
            run.result.unwrap_err().message,
            "Activity function 'a' failed: nope"
        );
        let run = TestHost::new(json!(1)).run(chain);
        assert!(run.result.unwrap_err().message.contains("not mocked"));
    }

    #[test]
    fn retries_wait_on_timers_with_backoff_and_give_up() {
        let attempts = std::rc::Rc::new(std::cell::Cell::new(0));
        let seen = attempts.clone();
        let policy = RetryPolicy {
            max_attempts: 3,
            first_retry_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
        };
        let run = TestHost::new(json!(null))
            .at(0)
            .activity("flaky", move |_| {
                seen.set(seen.get() + 1);
                Err(Error::new("boom"))
            })
            .run(|ctx| ctx.call_activity_with_retry::<_, Json>("flaky", &json!(null), &policy));
        assert_eq!(attempts.get(), 3);
        let timers: Vec<_> = run
            .decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Timer { fire_at_ms } => Some(*fire_at_ms),
                _ => None,
            })
            .collect();
        assert_eq!(timers, [1_000, 3_000]);
        let err = run.result.unwrap_err().message;
        assert!(err.contains("after 3 attempt(s)"), "{err}");
    }

    #[test]
    fn nonsensical_retry_policies_are_refused_at_the_call() {
        for policy in [
            RetryPolicy::new(0, 10),
            RetryPolicy::new(3, 0),
            RetryPolicy {
                backoff_coefficient: 0.5,
                ..RetryPolicy::new(3, 10)
            },
        ] {
            let run = TestHost::new(json!(null))
                .activity("a", |_| Ok(json!(1)))
                .run(|ctx| ctx.call_activity_with_retry::<_, Json>("a", &json!(null), &policy));
            assert!(run.result.unwrap_err().message.starts_with("retry policy:"));
            assert!(
                run.decisions.is_empty(),
                "nothing may be scheduled for a bad policy"
            );
        }
    }

    #[test]
    fn wait_any_prefers_ready_events_over_timers() {
        let race = |ctx: &Context| -> Result<Json, Error> {
            let event = ctx.wait_for_event::<Json>("Approval");
            let timer = ctx.create_timer_after(60_000);
            match ctx.wait_any(&[event.id, timer.id])? {
                (0, o) => event.decode(o),
                _ => Ok(json!("timed out")),
            }
        };
        let approved = TestHost::new(json!(null))
            .event("Approval", json!({"by": "ann"}))
            .run(race);
        assert_eq!(approved.output(), &json!({"by": "ann"}));
        let timed_out = TestHost::new(json!(null)).at(0).run(race);
        assert_eq!(timed_out.output(), &json!("timed out"));
        assert_eq!(timed_out.final_time_ms, 60_000);
    }
}
