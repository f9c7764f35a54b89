use super::*;
use crate::engine::EventKind;

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn exec(s: &str) -> ExecutionId {
    ExecutionId::from_trusted(s.into())
}

fn event(seq: u64) -> Event {
    Event {
        seq,
        timestamp_ms: seq,
        kind: EventKind::OrchestratorStarted,
    }
}

fn row(name: &str, execution: &str, status: RuntimeStatus) -> Instance {
    Instance {
        instance_id: id(name),
        execution_id: exec(execution),
        name: "o".into(),
        status,
        input: "null".into(),
        output: None,
        custom_status: None,
        orchestrator_digest: "d".into(),
        created_ms: 1,
        updated_ms: 1,
        parent: None,
        version: None,
    }
}

fn create(name: &str) -> Op {
    Op::CreateInstance {
        instance: row(name, "e1", RuntimeStatus::Pending),
        started: event(0),
    }
}

fn append(name: &str, execution: &str, seqs: &[u64], status: Option<RuntimeStatus>) -> Op {
    Op::Append {
        instance_id: id(name),
        execution_id: exec(execution),
        events: seqs.iter().map(|&s| event(s)).collect(),
        consumed: vec![],
        update: InstanceUpdate {
            status,
            updated_ms: 9,
            ..InstanceUpdate::default()
        },
    }
}

fn enqueue(name: &str, msg: &str) -> Op {
    Op::Enqueue {
        instance_id: id(name),
        message: InboxMessage {
            msg_id: msg.into(),
            execution_id: None,
            event: EventKind::OrchestratorStarted,
        },
        required: true,
        created_ms: 5,
    }
}

fn plan(batches: &[&[Op]], stored: Vec<Instance>) -> (Plan, Vec<Result<(), StoreError>>) {
    let mut plan = Plan::new(&touched(batches), stored);
    let results = batches.iter().map(|ops| plan.batch(ops)).collect();
    (plan, results)
}

#[test]
fn batches_of_one_group_build_on_each_other() {
    let (planned, results) = plan(
        &[
            &[create("a")],
            &[append("a", "e1", &[1, 2], Some(RuntimeStatus::Running))],
        ],
        vec![],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let a = planned.net.rows[&id("a")].as_ref().unwrap();
    assert_eq!((a.status, a.updated_ms), (RuntimeStatus::Running, 9));
    let seqs: Vec<u64> = planned.net.events.iter().map(|(_, _, e)| e.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert!(planned.net.history_reset.is_empty());
}

#[test]
fn a_refused_batch_leaves_no_trace_and_the_others_go_on() {
    let stored = vec![row("a", "e1", RuntimeStatus::Running)];
    let child = Op::CreateChild {
        instance: row("child", "c1", RuntimeStatus::Pending),
        started: event(0),
    };
    let (planned, results) = plan(
        &[
            &[child, append("a", "old", &[1], None)],
            &[append("a", "e1", &[1], None)],
        ],
        stored,
    );
    assert!(matches!(results[0], Err(StoreError::StaleExecution { .. })));
    assert!(results[1].is_ok());
    assert!(!planned.net.rows.contains_key(&id("child")));
    assert_eq!(planned.net.events.len(), 1);
}

#[test]
fn a_finished_id_is_reused_with_a_fresh_history_and_inbox() {
    let stored = vec![row("a", "e0", RuntimeStatus::Completed)];
    let (planned, results) = plan(&[&[create("a")]], stored);
    assert!(results[0].is_ok());
    assert!(planned.net.history_reset.contains(&id("a")));
    assert!(planned.net.inbox_wipe.contains(&id("a")));
    let running = vec![row("b", "e1", RuntimeStatus::Running)];
    let (_, results) = plan(&[&[create("b")]], running);
    assert!(matches!(results[0], Err(StoreError::InstanceExists(_))));
}

#[test]
fn the_end_of_an_instance_drops_messages_queued_in_the_same_group() {
    let stored = vec![row("a", "e1", RuntimeStatus::Running)];
    let end = append("a", "e1", &[1], Some(RuntimeStatus::Completed));
    let (planned, results) = plan(
        &[&[enqueue("a", "m1")], &[end], &[enqueue("a", "m2")]],
        stored,
    );
    assert!(results[0].is_ok() && results[1].is_ok());
    assert!(matches!(results[2], Err(StoreError::InstanceFinished(_))));
    assert!(
        planned.net.inbox_add.is_empty(),
        "{:?}",
        planned.net.inbox_add
    );
    assert!(planned.net.inbox_wipe.contains(&id("a")));
}

#[test]
fn a_message_consumed_in_its_own_group_is_never_written() {
    let stored = vec![row("a", "e1", RuntimeStatus::Running)];
    let mut turn = append("a", "e1", &[1], None);
    if let Op::Append { consumed, .. } = &mut turn {
        consumed.extend(["m1".to_owned(), "stored".to_owned()]);
    }
    let (planned, results) = plan(&[&[enqueue("a", "m1")], &[turn]], stored);
    assert!(results.iter().all(Result::is_ok));
    assert!(planned.net.inbox_add.is_empty());
    assert_eq!(planned.net.inbox_delete, ["stored"]);
}

#[test]
fn a_sequence_number_written_twice_in_a_group_is_a_conflict() {
    let stored = vec![row("a", "e1", RuntimeStatus::Running)];
    let (planned, results) = plan(
        &[
            &[append("a", "e1", &[1], None)],
            &[append("a", "e1", &[1], None)],
        ],
        stored,
    );
    assert!(results[0].is_ok());
    assert!(matches!(
        results[1],
        Err(StoreError::HistoryConflict { seq: 1, .. })
    ));
    assert_eq!(planned.net.events.len(), 1);
}

#[test]
fn purge_then_create_in_one_group_writes_only_the_new_instance() {
    let stored = vec![row("a", "e0", RuntimeStatus::Failed)];
    let purge = Op::Purge {
        instance_id: id("a"),
        required: true,
    };
    let (planned, results) = plan(&[&[purge], &[create("a")]], stored);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let a = planned.net.rows[&id("a")].as_ref().unwrap();
    assert_eq!(a.execution_id, exec("e1"));
    assert!(planned.net.history_reset.contains(&id("a")));
    let seqs: Vec<u64> = planned.net.events.iter().map(|(_, _, e)| e.seq).collect();
    assert_eq!(seqs, [0]);
    let missing = Op::Purge {
        instance_id: id("nobody"),
        required: true,
    };
    let (_, results) = plan(&[&[missing]], vec![]);
    assert!(matches!(results[0], Err(StoreError::NoSuchInstance(_))));
}
