//! The [`Store`] contract, run against each backend: SQLite (a temp file) and PostgreSQL (a
//! throw-away cluster, `pgtest`). A backend passes only if it gives the same answers.
use std::any::Any;
use std::sync::Arc;

use super::*;
use crate::engine::{Event, EventKind, RuntimeStatus};
use crate::ids::{ExecutionId, InstanceId};

pub(super) fn instance(id: &str, status: RuntimeStatus) -> Instance {
    Instance {
        instance_id: InstanceId::parse(id).unwrap(),
        execution_id: ExecutionId::random(),
        name: "order".into(),
        status,
        input: "{}".into(),
        output: None,
        custom_status: None,
        orchestrator_digest: "abc".into(),
        created_ms: 1,
        updated_ms: 1,
        parent: None,
        version: None,
    }
}

pub(super) fn started() -> Event {
    Event {
        seq: 0,
        timestamp_ms: 1,
        kind: EventKind::ExecutionStarted {
            name: "order".into(),
            input: "{}".into(),
            orchestrator_digest: "abc".into(),
            version: None,
            trace_context: None,
        },
    }
}

pub(super) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub(super) fn create_with(inst: &Instance) -> Vec<Op> {
    vec![Op::CreateInstance {
        instance: inst.clone(),
        started: started(),
    }]
}

/// A store under test, with the runtime its writes (and, for PostgreSQL, its tasks) run on.
/// Reads are made from the test's thread, as from a blocking-pool thread in the host.
pub(super) struct Backend {
    pub rt: tokio::runtime::Runtime,
    pub store: Arc<dyn Store>,
    _keep: Box<dyn Any>,
}

impl Backend {
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(StoreOptions::new(dir.path().join("db.sqlite"))).unwrap();
        Backend {
            rt: rt(),
            store,
            _keep: Box::new(dir),
        }
    }

    pub fn postgres() -> Backend {
        let cluster = pgtest::Cluster::start().unwrap();
        let url = cluster.create_database("durable").unwrap();
        let rt = rt();
        let store = rt
            .block_on(PostgresStore::open(PostgresOptions::new(
                url,
                LeaseOptions::new("test-host"),
            )))
            .unwrap();
        Backend {
            rt,
            store,
            _keep: Box::new(cluster),
        }
    }

    pub fn write(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.rt.block_on(self.store.write(ops))
    }

    /// Queues every batch before waiting for any (so a group commit can fold them).
    pub fn write_all(&self, batches: Vec<Vec<Op>>) -> Vec<Result<(), StoreError>> {
        let tickets: Vec<CommitTicket> = batches.into_iter().map(|b| self.store.write(b)).collect();
        self.rt.block_on(async {
            let mut results = Vec::new();
            for ticket in tickets {
                results.push(ticket.await);
            }
            results
        })
    }
}

fn finish(inst: &Instance, execution: &ExecutionId, seq: u64, status: RuntimeStatus) -> Op {
    Op::Append {
        instance_id: inst.instance_id.clone(),
        execution_id: execution.clone(),
        events: vec![Event {
            seq,
            timestamp_ms: 2,
            kind: EventKind::ExecutionCompleted { result: "7".into() },
        }],
        consumed: Vec::new(),
        update: InstanceUpdate {
            status: Some(status),
            output: Some("7".into()),
            custom_status: Some(Some("\"s\"".into())),
            updated_ms: 2,
            orchestrator_digest: None,
        },
    }
}

fn create_append_read_back_and_conflicts(b: &Backend) {
    let mut inst = instance("a", RuntimeStatus::Pending);
    inst.version = Some("2.0".into());
    b.write(create_with(&inst)).unwrap();
    // A second start with the same id while it is unfinished is refused; nothing changes.
    let dup = b.write(create_with(&inst));
    assert!(matches!(dup, Err(StoreError::InstanceExists(_))), "{dup:?}");
    let exec = inst.execution_id.clone();
    b.write(vec![finish(&inst, &exec, 1, RuntimeStatus::Completed)])
        .unwrap();
    // Writing the same sequence number twice is a conflict, and the batch rolls back.
    let again = b.write(vec![finish(&inst, &exec, 1, RuntimeStatus::Failed)]);
    assert!(
        matches!(again, Err(StoreError::HistoryConflict { seq: 1, .. })),
        "{again:?}"
    );
    let row = b.store.instance(&inst.instance_id).unwrap().unwrap();
    assert_eq!(row.status, RuntimeStatus::Completed);
    assert_eq!(row.output.as_deref(), Some("7"));
    assert_eq!(row.custom_status.as_deref(), Some("\"s\""));
    assert_eq!(row.version.as_deref(), Some("2.0"), "the version survives");
    let history = b.store.history(&inst.instance_id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], started());
    assert_eq!(
        history[1].kind,
        EventKind::ExecutionCompleted { result: "7".into() }
    );
    assert!(b.store.unfinished_instances().unwrap().is_empty());
    let nobody = InstanceId::parse("zzz").unwrap();
    assert!(b.store.instance(&nobody).unwrap().is_none());
}

fn inbox_messages_are_queued_consumed_and_refused_for_finished_instances(b: &Backend) {
    let inst = instance("a", RuntimeStatus::Running);
    let message = |n: u32| InboxMessage {
        msg_id: format!("m{n}"),
        execution_id: None,
        event: EventKind::EventRaised {
            name: "E".into(),
            input: n.to_string(),
        },
    };
    let enqueue = |id: &str, n: u32, required: bool| Op::Enqueue {
        instance_id: InstanceId::parse(id).unwrap(),
        message: message(n),
        required,
        created_ms: 1,
    };
    let turn = |consumed: Vec<String>, status: Option<RuntimeStatus>| Op::Append {
        instance_id: inst.instance_id.clone(),
        execution_id: inst.execution_id.clone(),
        events: vec![],
        consumed,
        update: InstanceUpdate {
            status,
            updated_ms: 3,
            ..InstanceUpdate::default()
        },
    };
    let missing = b.write(vec![enqueue("nobody", 0, true)]);
    assert!(
        matches!(missing, Err(StoreError::NoSuchInstance(_))),
        "{missing:?}"
    );
    b.write(vec![enqueue("nobody", 0, false)]).unwrap();
    b.write(create_with(&inst)).unwrap();
    for n in 1..=3 {
        b.write(vec![enqueue("a", n, true)]).unwrap();
    }
    let inbox = |b: &Backend| b.store.inbox(&inst.instance_id).unwrap();
    assert_eq!(inbox(b), vec![message(1), message(2), message(3)]);
    // Consuming m1 with a turn removes it atomically with the turn's events.
    b.write(vec![turn(vec!["m1".into()], None)]).unwrap();
    assert_eq!(inbox(b), vec![message(2), message(3)]);
    // Finishing drops the rest; nothing more can be queued.
    b.write(vec![turn(vec![], Some(RuntimeStatus::Completed))])
        .unwrap();
    assert!(inbox(b).is_empty());
    let late = b.write(vec![enqueue("a", 4, true)]);
    assert!(
        matches!(late, Err(StoreError::InstanceFinished(_))),
        "{late:?}"
    );
}

fn group_commit_keeps_each_batch_atomic(b: &Backend) {
    let batches = (0..50)
        .map(|i| create_with(&instance(&format!("i{}", i % 25), RuntimeStatus::Running)))
        .collect();
    let (mut ok, mut dup) = (0, 0);
    for result in b.write_all(batches) {
        match result {
            Ok(()) => ok += 1,
            Err(StoreError::InstanceExists(_)) => dup += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, dup), (25, 25));
    assert_eq!(b.store.unfinished_instances().unwrap().len(), 25);
    // A refused batch in a group does not take its neighbours down, nor half-apply.
    let bad = vec![
        Op::Enqueue {
            instance_id: InstanceId::parse("j").unwrap(),
            message: InboxMessage {
                msg_id: "x".into(),
                execution_id: None,
                event: EventKind::EventRaised {
                    name: "E".into(),
                    input: "1".into(),
                },
            },
            required: false,
            created_ms: 1,
        },
        create_with(&instance("i0", RuntimeStatus::Running)).remove(0),
    ];
    let results = b.write_all(vec![create("j"), bad, create("k")]);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(matches!(results[1], Err(StoreError::InstanceExists(_))));
    let j = InstanceId::parse("j").unwrap();
    assert!(
        b.store.inbox(&j).unwrap().is_empty(),
        "the refused batch left nothing"
    );
}

fn create(id: &str) -> Vec<Op> {
    create_with(&instance(id, RuntimeStatus::Running))
}

fn writes_for_an_execution_that_has_moved_on_are_refused(b: &Backend) {
    let inst = instance("a", RuntimeStatus::Running);
    let old = inst.execution_id.clone();
    let new = ExecutionId::random();
    let continue_as_new = |from: &ExecutionId, to: &ExecutionId| Op::ContinueAsNew {
        instance_id: inst.instance_id.clone(),
        from_execution: from.clone(),
        execution_id: to.clone(),
        input: "2".into(),
        started: started(),
        consumed: Vec::new(),
        updated_ms: 2,
    };
    b.write(create_with(&inst)).unwrap();
    b.write(vec![continue_as_new(&old, &new)]).unwrap();
    // The old execution's actor, still finishing, must not overwrite its successor.
    let stale = b.write(vec![finish(&inst, &old, 1, RuntimeStatus::Completed)]);
    assert!(
        matches!(stale, Err(StoreError::StaleExecution { .. })),
        "{stale:?}"
    );
    let stale = b.write(vec![continue_as_new(&old, &ExecutionId::random())]);
    assert!(
        matches!(stale, Err(StoreError::StaleExecution { .. })),
        "{stale:?}"
    );
    let row = b.store.instance(&inst.instance_id).unwrap().unwrap();
    assert_eq!(
        (row.status, row.execution_id),
        (RuntimeStatus::Running, new.clone())
    );
    assert_eq!(
        (
            row.input.as_str(),
            b.store.history(&inst.instance_id).unwrap().len()
        ),
        ("2", 1)
    );
    b.write(vec![finish(&inst, &new, 1, RuntimeStatus::Completed)])
        .unwrap();
    let row = b.store.instance(&inst.instance_id).unwrap().unwrap();
    assert_eq!(row.status, RuntimeStatus::Completed);
}

fn rewind_purge_and_id_reuse(b: &Backend) {
    let inst = instance("r", RuntimeStatus::Running);
    let exec = inst.execution_id.clone();
    let id = inst.instance_id.clone();
    let rewind = |seq: u64| Op::Rewind {
        instance_id: id.clone(),
        execution_id: exec.clone(),
        event: Event {
            seq,
            timestamp_ms: 3,
            kind: EventKind::ExecutionRewound {
                reason: "again".into(),
                voided: vec![],
            },
        },
        updated_ms: 3,
    };
    let purge = |required| Op::Purge {
        instance_id: id.clone(),
        required,
    };
    b.write(create_with(&inst)).unwrap();
    let early = b.write(vec![rewind(1)]);
    assert!(matches!(early, Err(StoreError::NotFailed(_))), "{early:?}");
    let running = b.write(vec![purge(true)]);
    assert!(
        matches!(running, Err(StoreError::NotFinished(_))),
        "{running:?}"
    );
    b.write(vec![purge(false)]).unwrap();
    b.write(vec![finish(&inst, &exec, 1, RuntimeStatus::Failed)])
        .unwrap();
    // Two rewinds in one group: only one finds the instance Failed.
    let results = b.write_all(vec![vec![rewind(2)], vec![rewind(2)]]);
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let row = b.store.instance(&id).unwrap().unwrap();
    assert_eq!((row.status, row.output), (RuntimeStatus::Running, None));
    assert_eq!(b.store.history(&id).unwrap().len(), 3);
    b.write(vec![finish(&inst, &exec, 3, RuntimeStatus::Completed)])
        .unwrap();
    // A finished instance's id may be reused: the new one starts with a fresh history.
    let reused = instance("r", RuntimeStatus::Pending);
    b.write(create_with(&reused)).unwrap();
    assert_eq!(b.store.history(&id).unwrap(), vec![started()]);
    b.write(vec![finish(
        &reused,
        &reused.execution_id,
        1,
        RuntimeStatus::Completed,
    )])
    .unwrap();
    b.write(vec![purge(true)]).unwrap();
    assert!(b.store.instance(&id).unwrap().is_none());
    assert!(b.store.history(&id).unwrap().is_empty());
    let gone = b.write(vec![purge(true)]);
    assert!(
        matches!(gone, Err(StoreError::NoSuchInstance(_))),
        "{gone:?}"
    );
}

fn children_are_created_once(b: &Backend) {
    let child = instance("child", RuntimeStatus::Pending);
    let op = || Op::CreateChild {
        instance: child.clone(),
        started: started(),
    };
    let results = b.write_all(vec![vec![op()], vec![op()]]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    b.write(vec![op()]).unwrap();
    assert_eq!(b.store.history(&child.instance_id).unwrap().len(), 1);
}

fn components_routes_and_listing(b: &Backend) {
    let put = |digest: &str, kind, added_ms| Op::PutComponent {
        digest: digest.into(),
        kind,
        names: vec!["x".into(), "y".into()],
        bytes: Arc::new(digest.as_bytes().to_vec()),
        added_ms,
    };
    b.write(vec![put("d1", ComponentKind::Orchestrator, 5)])
        .unwrap();
    b.write(vec![
        put("d2", ComponentKind::Activity, 6),
        put("d1", ComponentKind::Orchestrator, 7),
    ])
    .unwrap();
    let stored = b.store.components().unwrap();
    let summary: Vec<_> = stored
        .iter()
        .map(|c| (c.digest.as_str(), c.kind, c.size, c.added_ms))
        .collect();
    assert_eq!(
        summary,
        [
            ("d1", ComponentKind::Orchestrator, 2, 5),
            ("d2", ComponentKind::Activity, 2, 6)
        ]
    );
    assert_eq!(stored[0].names, ["x", "y"]);
    assert_eq!(
        b.store.component("d2").unwrap().as_deref(),
        Some(&b"d2"[..])
    );
    assert_eq!(b.store.component("d3").unwrap(), None);
    let activate = |digest: &str, ms| Op::Activate {
        kind: ComponentKind::Orchestrator,
        names: vec!["x".into()],
        digest: digest.into(),
        activated_ms: ms,
    };
    b.write(vec![activate("d1", 8)]).unwrap();
    b.write(vec![activate("d2", 9)]).unwrap();
    let routes = b.store.routes().unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(
        (routes[0].digest.as_str(), routes[0].activated_ms),
        ("d2", 9)
    );

    let mut batches = Vec::new();
    for i in 0..6u64 {
        let mut inst = instance(&format!("l{i}"), RuntimeStatus::Running);
        inst.created_ms = 10 + i;
        batches.push(create_with(&inst));
    }
    batches.push(create_with(&instance("other", RuntimeStatus::Running)));
    // An entity's row: listed (and counted) only when entities are asked for.
    let mut entity = instance("x", RuntimeStatus::Running);
    entity.instance_id = crate::ids::EntityId::parse("counter", "k")
        .unwrap()
        .instance_id();
    batches.push(create_with(&entity));
    assert!(b.write_all(batches).iter().all(Result::is_ok));
    let entities = ListQuery {
        entities: true,
        limit: 100,
        ..ListQuery::default()
    };
    let found = b.store.list(&entities).unwrap();
    let found: Vec<&str> = found.iter().map(|i| i.instance_id.as_str()).collect();
    assert_eq!(found, ["@counter@k"]);
    assert_eq!(
        b.store.count_by_status(&entities).unwrap(),
        [(RuntimeStatus::Running, 1)]
    );
    let ids = |q: ListQuery| -> Vec<String> {
        let found = b.store.list(&q).unwrap();
        found
            .into_iter()
            .map(|i| i.instance_id.as_str().to_owned())
            .collect()
    };
    let query = ListQuery {
        instance_id_prefix: Some("l".into()),
        limit: 4,
        ..ListQuery::default()
    };
    assert_eq!(ids(query.clone()), ["l0", "l1", "l2", "l3"]);
    let next = ListQuery {
        after: Some((13, "l3".into())),
        ..query.clone()
    };
    assert_eq!(ids(next), ["l4", "l5"]);
    let window = ListQuery {
        created_from_ms: Some(11),
        created_to_ms: Some(12),
        statuses: vec![RuntimeStatus::Running, RuntimeStatus::Failed],
        limit: 100,
        ..ListQuery::default()
    };
    assert_eq!(ids(window), ["l1", "l2"]);
    let none = ListQuery {
        statuses: vec![RuntimeStatus::Completed],
        limit: 100,
        ..ListQuery::default()
    };
    assert!(ids(none).is_empty());

    // Newest first, pages going back in time; by name; counts ignore status and paging.
    let newest = ListQuery {
        instance_id_prefix: Some("l".into()),
        newest_first: true,
        limit: 2,
        ..ListQuery::default()
    };
    assert_eq!(ids(newest.clone()), ["l5", "l4"]);
    let older = ListQuery {
        after: Some((14, "l4".into())),
        ..newest.clone()
    };
    assert_eq!(ids(older), ["l3", "l2"]);
    let named = ListQuery {
        name: Some("nobody".into()),
        limit: 100,
        ..ListQuery::default()
    };
    assert!(ids(named.clone()).is_empty());
    let order = ListQuery {
        name: Some("order".into()),
        ..named
    };
    assert_eq!(ids(order).len(), 7);
    let counted = ListQuery {
        statuses: vec![RuntimeStatus::Completed],
        after: Some((12, "l2".into())),
        ..ListQuery::default()
    };
    assert_eq!(
        b.store.count_by_status(&counted).unwrap(),
        [(RuntimeStatus::Running, 7)]
    );
    let window = ListQuery {
        created_from_ms: Some(11),
        created_to_ms: Some(12),
        ..ListQuery::default()
    };
    assert_eq!(
        b.store.count_by_status(&window).unwrap(),
        [(RuntimeStatus::Running, 2)]
    );
}

macro_rules! contract {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[test]
                fn $test() {
                    super::$test(&super::Backend::$backend());
                }
            )*
        }
    };
}

macro_rules! both {
    ($($test:ident),* $(,)?) => {
        contract!(sqlite: $($test),*);
        contract!(postgres: $($test),*);
    };
}

both!(
    create_append_read_back_and_conflicts,
    inbox_messages_are_queued_consumed_and_refused_for_finished_instances,
    group_commit_keeps_each_batch_atomic,
    writes_for_an_execution_that_has_moved_on_are_refused,
    rewind_purge_and_id_reuse,
    children_are_created_once,
    components_routes_and_listing,
);
