//! The orchestrator's side of `durable:engine/context`: each host function the guest imports,
//! checked, limited and decided against the execution it replays or extends.

use super::super::bindings::orchestrator::durable::engine::{context, types};
use super::{Halt, OrchState};
use crate::engine::limits::{self, LimitError};
use crate::engine::{Decision, Failure, Outcome, Poll, WaitError, WaitMode};
use crate::ids::{EntityId, InstanceId, TaskId, default_child_id};

impl OrchState {
    fn decide(&mut self, decision: Decision) -> wasmtime::Result<u32> {
        match self.exec.decide(decision) {
            Ok((task_id, _new)) => Ok(task_id.0),
            Err(n) => {
                let message = n.to_string();
                self.halt = Some(Halt::Failed(message.clone()));
                Err(wasmtime::Error::msg(message))
            }
        }
    }

    /// `call-entity` and `signal-entity`: checked like the API checks them, then decided.
    fn entity_operation(
        &mut self,
        name: String,
        key: String,
        operation: String,
        input: Option<String>,
        call: bool,
    ) -> wasmtime::Result<u32> {
        let entity = match EntityId::parse(&name, &key) {
            Ok(entity) => entity,
            Err(e) => return self.guest_error(format!("invalid entity id '@{name}@{key}': {e}")),
        };
        self.check(limits::check_name("entity operation name", &operation))?;
        if let Some(input) = &input {
            let what = format!("input of operation '{operation}' of entity {entity}");
            self.check(limits::check_payload(&what, input))?;
        }
        self.decide(Decision::EntityOperation {
            entity: entity.to_string(),
            operation,
            input,
            call,
        })
    }

    /// The guest asked for something invalid: the orchestration fails with `message`.
    fn guest_error<T>(&mut self, message: String) -> wasmtime::Result<T> {
        let name = self.exec.name();
        let reason = format!("Orchestrator function '{name}' failed: {message}");
        self.halt = Some(Halt::Failed(reason));
        Err(wasmtime::Error::msg(message))
    }

    /// Polls the execution; when that hands the guest a new turn (recorded, on replay, or
    /// live) the turn gets a fresh fuel budget, so a replay runs each recorded turn on the
    /// budget it had live instead of all of them on one.
    fn poll(&mut self, tasks: &[u32], mode: WaitMode) -> Result<Poll, WaitError> {
        let before = self.exec.turns_consumed();
        let tasks: Vec<TaskId> = tasks.iter().copied().map(TaskId).collect();
        let poll = self.exec.poll(&tasks, mode);
        if self.exec.turns_consumed() != before {
            self.refuel = true;
        }
        poll
    }

    /// A limit check on a new decision (recorded ones replay as they were).
    fn check(&mut self, limit: Result<(), LimitError>) -> wasmtime::Result<()> {
        match limit {
            Err(limit) if !self.exec.is_replaying() => self.guest_error(limit.to_string()),
            _ => Ok(()),
        }
    }

    /// Ends the turn and waits for the next one; the guest stays parked meanwhile.
    async fn next_turn(&mut self) -> wasmtime::Result<()> {
        let custom_status = self.custom_status.take();
        match self.link.end_turn(&mut self.exec, custom_status).await {
            Ok(()) => {
                self.refuel = true;
                Ok(())
            }
            Err(stop) => {
                let message = stop.to_string();
                self.halt = Some(Halt::Stopped(stop));
                Err(wasmtime::Error::msg(message))
            }
        }
    }
}

fn to_wit(outcome: Outcome) -> types::Outcome {
    match outcome {
        Outcome::Completed(json) => types::Outcome::Completed(json),
        Outcome::Failed(Failure { message, details }) => {
            types::Outcome::Failed(types::Failure { message, details })
        }
    }
}

impl types::Host for OrchState {}

impl context::Host for OrchState {
    fn input(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.input().to_owned())
    }

    fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.instance_id().to_owned())
    }

    fn orchestration_name(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.name().to_owned())
    }

    fn parent_instance_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.parent_instance_id.clone())
    }

    fn version(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.exec.version().map(str::to_owned))
    }

    fn current_time(&mut self) -> wasmtime::Result<u64> {
        Ok(self.exec.current_time_ms())
    }

    fn new_guid(&mut self) -> wasmtime::Result<String> {
        Ok(self.exec.new_guid())
    }

    fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(self.exec.is_replaying())
    }

    fn set_custom_status(&mut self, status: Option<String>) -> wasmtime::Result<()> {
        if let Some(text) = &status {
            self.check(limits::check_payload("custom status", text))?;
        }
        self.custom_status = Some(status);
        Ok(())
    }

    fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        if self.exec.captures_logs() {
            let name = match level {
                types::LogLevel::Trace => "trace",
                types::LogLevel::Debug => "debug",
                types::LogLevel::Info => "info",
                types::LogLevel::Warn => "warn",
                types::LogLevel::Error => "error",
            };
            self.exec.note_log(name, message);
            return Ok(());
        }
        if self.exec.is_replaying() {
            return Ok(());
        }
        let instance = self.exec.instance_id();
        let orchestration = self.exec.name();
        match level {
            types::LogLevel::Trace => tracing::trace!(instance, orchestration, "{message}"),
            types::LogLevel::Debug => tracing::debug!(instance, orchestration, "{message}"),
            types::LogLevel::Info => tracing::info!(instance, orchestration, "{message}"),
            types::LogLevel::Warn => tracing::warn!(instance, orchestration, "{message}"),
            types::LogLevel::Error => tracing::error!(instance, orchestration, "{message}"),
        }
        Ok(())
    }

    fn report_panic(&mut self, message: String) -> wasmtime::Result<()> {
        self.panic_message = Some(message);
        Ok(())
    }

    fn schedule_activity(&mut self, name: String, input: String) -> wasmtime::Result<u32> {
        self.check(limits::check_name("activity name", &name))?;
        self.check(limits::check_payload(
            &format!("input of activity '{name}'"),
            &input,
        ))?;
        self.decide(Decision::ScheduleActivity { name, input })
    }

    fn schedule_sub_orchestration(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: String,
    ) -> wasmtime::Result<u32> {
        self.check(limits::check_name("sub-orchestration name", &name))?;
        self.check(limits::check_payload(
            &format!("input of sub-orchestration '{name}'"),
            &input,
        ))?;
        let instance_id = match instance_id {
            Some(id) => id,
            None => match InstanceId::parse(self.exec.instance_id()) {
                Ok(parent) => {
                    default_child_id(&parent, self.exec.execution_id(), self.exec.next_task_id())
                }
                Err(e) => return self.guest_error(format!("invalid parent instance id: {e}")),
            },
        };
        if let Err(e) = InstanceId::parse(&instance_id) {
            return self.guest_error(format!(
                "invalid sub-orchestration instance id '{instance_id}': {e}"
            ));
        }
        if instance_id == self.exec.instance_id() {
            return self.guest_error(
                "a sub-orchestration cannot reuse its parent's instance id".to_owned(),
            );
        }
        self.decide(Decision::ScheduleSubOrchestration {
            name,
            instance_id,
            input,
        })
    }

    fn call_entity(
        &mut self,
        name: String,
        key: String,
        operation: String,
        input: Option<String>,
    ) -> wasmtime::Result<u32> {
        self.entity_operation(name, key, operation, input, true)
    }

    fn signal_entity(
        &mut self,
        name: String,
        key: String,
        operation: String,
        input: Option<String>,
    ) -> wasmtime::Result<()> {
        self.entity_operation(name, key, operation, input, false)
            .map(drop)
    }

    fn create_timer(&mut self, fire_at: u64) -> wasmtime::Result<u32> {
        self.decide(Decision::CreateTimer {
            fire_at_ms: fire_at,
        })
    }

    fn wait_for_event(&mut self, name: String) -> wasmtime::Result<u32> {
        // A name the API could never raise would leave the instance waiting forever.
        self.check(limits::check_name("event name", &name))?;
        Ok(self.exec.wait_for_event(&name).0)
    }

    async fn wait_all(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<Result<Vec<types::Outcome>, String>> {
        loop {
            match self.poll(&tasks, WaitMode::All) {
                Err(refused) => return Ok(Err(refused.to_string())),
                Ok(Poll::All(outcomes)) => {
                    return Ok(Ok(outcomes.into_iter().map(to_wit).collect()));
                }
                Ok(Poll::Any(..)) => {
                    return Ok(Err("internal: wait-all answered as wait-any".into()));
                }
                Ok(Poll::Blocked) => self.next_turn().await?,
            }
        }
    }

    async fn wait_any(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<Result<(u32, types::Outcome), String>> {
        loop {
            match self.poll(&tasks, WaitMode::Any) {
                Err(refused) => return Ok(Err(refused.to_string())),
                Ok(Poll::Any(index, outcome)) => return Ok(Ok((index, to_wit(outcome)))),
                Ok(Poll::All(..)) => {
                    return Ok(Err("internal: wait-any answered as wait-all".into()));
                }
                Ok(Poll::Blocked) => self.next_turn().await?,
            }
        }
    }

    fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        if serde_json::from_str::<serde_json::Value>(&input).is_err() {
            return self.guest_error("continue-as-new input is not valid JSON".to_owned());
        }
        self.check(limits::check_payload("continue-as-new input", &input))?;
        self.continue_as_new = Some(input);
        Ok(())
    }
}
