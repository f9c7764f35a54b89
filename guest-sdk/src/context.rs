//! The orchestration context: the only way an orchestration reaches the outside world.

use std::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};

use crate::{EntityId, Error, LogLevel, Outcome, RetryPolicy, TaskId};

/// What the context needs from whoever runs the orchestration. In a component this is the
/// host's `context` import; natively it is [`crate::testing::TestHost`] or anything else that
/// scripts results.
pub trait Host {
    fn input(&self) -> String;
    fn instance_id(&self) -> String;
    fn orchestration_name(&self) -> String;
    fn version(&self) -> Option<String>;
    fn current_time(&self) -> u64;
    fn new_guid(&self) -> String;
    fn is_replaying(&self) -> bool;
    fn set_custom_status(&self, status: Option<String>);
    fn log(&self, level: LogLevel, message: &str);
    fn schedule_activity(&self, name: &str, input: String) -> TaskId;
    fn schedule_sub_orchestration(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: String,
    ) -> TaskId;
    fn create_timer(&self, fire_at_ms: u64) -> TaskId;
    fn wait_for_event(&self, name: &str) -> TaskId;
    /// `input` is JSON, `None` for none.
    fn call_entity(&self, entity: &EntityId, operation: &str, input: Option<String>) -> TaskId;
    fn signal_entity(&self, entity: &EntityId, operation: &str, input: Option<String>);
    fn wait_all(&self, tasks: &[TaskId]) -> Result<Vec<Outcome>, String>;
    fn wait_any(&self, tasks: &[TaskId]) -> Result<(u32, Outcome), String>;
    fn continue_as_new(&self, input: String);
}

/// A scheduled task whose output deserializes to `O`. Copy it freely: waiting on the same task
/// again returns the same outcome.
#[derive(Debug, PartialEq, Eq)]
pub struct Task<O> {
    pub id: TaskId,
    _output: PhantomData<fn() -> O>,
}

impl<O> Clone for Task<O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for Task<O> {}

/// The orchestration context, handed to every orchestration function.
///
/// Everything here is deterministic: values come from the host's history, so a replay of the
/// same orchestration makes the same decisions.
pub struct Context<'h> {
    host: &'h dyn Host,
}

impl<'h> Context<'h> {
    pub fn new(host: &'h dyn Host) -> Self {
        Context { host }
    }

    /// The orchestration input, deserialized.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.host.input()).map_err(|e| {
            Error::new(format!(
                "orchestration input does not match the expected shape: {e}"
            ))
        })
    }

    pub fn instance_id(&self) -> String {
        self.host.instance_id()
    }

    /// The instance's orchestration version: what the app stamped on it at start (`?version=`,
    /// else the host's `defaultVersion`); sub-orchestrations inherit their parent's. Branch on
    /// it to change behaviour for new instances while old ones replay as they were.
    pub fn version(&self) -> Option<String> {
        self.host.version()
    }

    /// Time of the current turn, in milliseconds since the Unix epoch (replay-safe).
    pub fn current_time_ms(&self) -> u64 {
        self.host.current_time()
    }

    /// A deterministic UUID (replay-safe).
    pub fn new_guid(&self) -> String {
        self.host.new_guid()
    }

    pub fn is_replaying(&self) -> bool {
        self.host.is_replaying()
    }

    /// Sets the custom status shown by the status API.
    pub fn set_custom_status<T: Serialize + ?Sized>(&self, status: &T) -> Result<(), Error> {
        self.host
            .set_custom_status(Some(serde_json::to_string(status)?));
        Ok(())
    }

    pub fn clear_custom_status(&self) {
        self.host.set_custom_status(None);
    }

    /// Logs a line attributed to this instance; not repeated during replay.
    pub fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        self.host.log(level, message.as_ref());
    }

    /// Calls an activity and waits for its output, like Durable Functions' `callActivity`.
    /// A failed activity comes back as `Err`, with Durable Functions' message
    /// ("Activity function 'x' failed: ...").
    pub fn call_activity<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        name: &str,
        input: &I,
    ) -> Result<O, Error> {
        let task = self.schedule_activity(name, input)?;
        self.wait(task)
    }

    /// Like [`Context::call_activity`], retrying failures by `retry`. Each retry waits on a
    /// durable timer, so every attempt and delay is in the history and survives restarts.
    /// A nonsensical policy is refused here, before anything is scheduled.
    pub fn call_activity_with_retry<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        name: &str,
        input: &I,
        retry: &RetryPolicy,
    ) -> Result<O, Error> {
        let input = serde_json::to_string(input)?;
        self.with_retry(retry, || {
            Task::new(self.host.schedule_activity(name, input.clone()))
        })
    }

    /// Schedules an activity without waiting, for fan-out (see [`Context::wait_all`]).
    pub fn schedule_activity<I: Serialize + ?Sized, O>(
        &self,
        name: &str,
        input: &I,
    ) -> Result<Task<O>, Error> {
        let input = serde_json::to_string(input)?;
        Ok(Task::new(self.host.schedule_activity(name, input)))
    }

    /// Starts a sub-orchestration without waiting; `instance_id` defaults to a deterministic
    /// `<parent id>:<task id>`.
    pub fn schedule_sub_orchestration<I: Serialize + ?Sized, O>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: &I,
    ) -> Result<Task<O>, Error> {
        let input = serde_json::to_string(input)?;
        Ok(Task::new(self.host.schedule_sub_orchestration(
            name,
            instance_id,
            input,
        )))
    }

    /// Calls a sub-orchestration and waits for its output.
    pub fn call_sub_orchestration<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: &I,
    ) -> Result<O, Error> {
        let task = self.schedule_sub_orchestration(name, instance_id, input)?;
        self.wait(task)
    }

    /// Like [`Context::call_sub_orchestration`], retrying failures by `retry`. Retried children
    /// get fresh deterministic instance ids unless `instance_id` is given.
    pub fn call_sub_orchestration_with_retry<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: &I,
        retry: &RetryPolicy,
    ) -> Result<O, Error> {
        let input = serde_json::to_string(input)?;
        self.with_retry(retry, || {
            Task::new(
                self.host
                    .schedule_sub_orchestration(name, instance_id, input.clone()),
            )
        })
    }

    /// Calls operation `operation` of `entity` without waiting (Durable Functions'
    /// `callEntity`); the task's output is what the operation returns.
    pub fn schedule_call_entity<I: Serialize + ?Sized, O>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Result<Task<O>, Error> {
        let input = serde_json::to_string(input)?;
        Ok(Task::new(self.host.call_entity(
            entity,
            operation,
            Some(input),
        )))
    }

    /// Calls operation `operation` of `entity` and waits for what it returns. Operations on
    /// one entity run one at a time; a failed operation comes back as `Err` and leaves the
    /// entity's state as it was.
    pub fn call_entity<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Result<O, Error> {
        let task = self.schedule_call_entity(entity, operation, input)?;
        self.wait(task)
    }

    /// Sends operation `operation` to `entity` without waiting for it (one-way, Durable
    /// Functions' `signalEntity`). It goes out with this turn's commit, exactly once.
    pub fn signal_entity<I: Serialize + ?Sized>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Result<(), Error> {
        let input = serde_json::to_string(input)?;
        self.host.signal_entity(entity, operation, Some(input));
        Ok(())
    }

    /// A durable timer firing at `fire_at_ms` (ms since epoch).
    pub fn create_timer(&self, fire_at_ms: u64) -> Task<()> {
        Task::new(self.host.create_timer(fire_at_ms))
    }

    /// A durable timer firing `delay_ms` after the current turn's time.
    pub fn create_timer_after(&self, delay_ms: u64) -> Task<()> {
        self.create_timer(self.current_time_ms().saturating_add(delay_ms))
    }

    /// Waits for the next external event named `name`.
    pub fn wait_for_event<O>(&self, name: &str) -> Task<O> {
        Task::new(self.host.wait_for_event(name))
    }

    /// Waits for one task and decodes its output.
    pub fn wait<O: DeserializeOwned>(&self, task: Task<O>) -> Result<O, Error> {
        let mut outcomes = self.host.wait_all(&[task.id]).map_err(Error::new)?;
        let outcome = outcomes
            .pop()
            .ok_or_else(|| Error::new("host returned no outcome for the awaited task"))?;
        task.decode(outcome)
    }

    /// Waits for all tasks; raw outcomes in order (decode each with [`Task::decode`]).
    pub fn wait_all(&self, tasks: &[TaskId]) -> Result<Vec<Outcome>, Error> {
        self.host.wait_all(tasks).map_err(Error::new)
    }

    /// Waits for all tasks of one output type and decodes them; the first failure is returned.
    pub fn wait_all_typed<O: DeserializeOwned>(&self, tasks: &[Task<O>]) -> Result<Vec<O>, Error> {
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        let outcomes = self.wait_all(&ids)?;
        tasks
            .iter()
            .zip(outcomes)
            .map(|(t, o)| t.decode(o))
            .collect()
    }

    /// Waits for the first of `tasks`; its index in `tasks` and its outcome.
    pub fn wait_any(&self, tasks: &[TaskId]) -> Result<(usize, Outcome), Error> {
        let (index, outcome) = self.host.wait_any(tasks).map_err(Error::new)?;
        Ok((index as usize, outcome))
    }

    /// Restarts this orchestration with a fresh history on `input` once it returns.
    pub fn continue_as_new<I: Serialize + ?Sized>(&self, input: &I) -> Result<(), Error> {
        self.host.continue_as_new(serde_json::to_string(input)?);
        Ok(())
    }

    fn with_retry<O: DeserializeOwned>(
        &self,
        retry: &RetryPolicy,
        schedule: impl Fn() -> Task<O>,
    ) -> Result<O, Error> {
        validate_retry(retry)?;
        let started = self.current_time_ms();
        let mut attempt = 1u32;
        loop {
            let error = match self.wait(schedule()) {
                Ok(output) => return Ok(output),
                Err(e) => e,
            };
            let delay = retry_delay(retry, attempt);
            let next_at = self.current_time_ms().saturating_add(delay);
            let out_of_time = retry
                .retry_timeout_ms
                .is_some_and(|timeout| next_at.saturating_sub(started) > timeout);
            if attempt >= retry.max_attempts || out_of_time {
                let why = if out_of_time {
                    "retry timeout reached"
                } else {
                    "attempts exhausted"
                };
                return Err(Error {
                    message: format!("{} (after {attempt} attempt(s); {why})", error.message),
                    details: error.details,
                });
            }
            self.wait(self.create_timer(next_at))?;
            attempt += 1;
        }
    }
}

/// Delay before retry number `attempt` (1-based): first × coefficient^(attempt-1), capped.
pub(crate) fn retry_delay(retry: &RetryPolicy, attempt: u32) -> u64 {
    let raw =
        retry.first_retry_interval_ms as f64 * retry.backoff_coefficient.powi(attempt as i32 - 1);
    let capped = match retry.max_retry_interval_ms {
        Some(max) => raw.min(max as f64),
        None => raw,
    };
    if capped.is_finite() {
        capped as u64
    } else {
        u64::MAX
    }
}

impl<O> Task<O> {
    pub(crate) fn new(id: TaskId) -> Self {
        Task {
            id,
            _output: PhantomData,
        }
    }
}

impl<O: DeserializeOwned> Task<O> {
    /// Turns this task's outcome into its typed output or its error.
    pub fn decode(&self, outcome: Outcome) -> Result<O, Error> {
        match outcome {
            Outcome::Completed(json) => serde_json::from_str(&json).map_err(|e| {
                Error::new(format!(
                    "task {} returned output of an unexpected shape: {e}",
                    self.id
                ))
            }),
            Outcome::Failed(e) => Err(e),
        }
    }
}

/// Rejects retry policies that cannot mean anything, at the call site.
pub(crate) fn validate_retry(retry: &RetryPolicy) -> Result<(), Error> {
    if retry.max_attempts == 0 {
        return Err(Error::new("retry policy: max_attempts must be at least 1"));
    }
    if retry.first_retry_interval_ms == 0 {
        return Err(Error::new(
            "retry policy: first_retry_interval_ms must be greater than 0",
        ));
    }
    if !(retry.backoff_coefficient.is_finite() && retry.backoff_coefficient >= 1.0) {
        return Err(Error::new(
            "retry policy: backoff_coefficient must be a finite number >= 1.0",
        ));
    }
    if let Some(max) = retry.max_retry_interval_ms
        && max < retry.first_retry_interval_ms
    {
        return Err(Error::new(
            "retry policy: max_retry_interval_ms must not be smaller than first_retry_interval_ms",
        ));
    }
    if retry.retry_timeout_ms == Some(0) {
        return Err(Error::new(
            "retry policy: retry_timeout_ms must be greater than 0",
        ));
    }
    Ok(())
}
