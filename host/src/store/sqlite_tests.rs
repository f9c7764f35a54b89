//! Unit tests of `sqlite.rs`.
use super::*;

fn instance(id: &str, status: RuntimeStatus) -> Instance {
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
    }
}

fn started() -> Event {
    Event {
        seq: 0,
        timestamp_ms: 1,
        kind: EventKind::ExecutionStarted {
            name: "order".into(),
            input: "{}".into(),
            orchestrator_digest: "abc".into(),
        },
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn create_append_read_back_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(StoreOptions::new(dir.path().join("db.sqlite"))).unwrap();
    let inst = instance("a", RuntimeStatus::Pending);
    rt().block_on(async {
        store
            .write(vec![Op::CreateInstance {
                instance: inst.clone(),
                started: started(),
            }])
            .await
            .unwrap();
        // A second start with the same id while it is unfinished is refused; nothing changes.
        let dup = store
            .write(vec![Op::CreateInstance {
                instance: inst.clone(),
                started: started(),
            }])
            .await;
        assert!(matches!(dup, Err(StoreError::InstanceExists(_))));
        let append = |seq: u64, status| Op::Append {
            instance_id: inst.instance_id.clone(),
            execution_id: inst.execution_id.clone(),
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
        };
        store
            .write(vec![append(1, RuntimeStatus::Completed)])
            .await
            .unwrap();
        // Writing the same sequence number twice is a conflict, and the batch rolls back.
        let again = store.write(vec![append(1, RuntimeStatus::Failed)]).await;
        assert!(matches!(
            again,
            Err(StoreError::HistoryConflict { seq: 1, .. })
        ));
    });
    let row = store.instance(&inst.instance_id).unwrap().unwrap();
    assert_eq!(row.status, RuntimeStatus::Completed);
    assert_eq!(row.output.as_deref(), Some("7"));
    assert_eq!(row.custom_status.as_deref(), Some("\"s\""));
    let history = store.history(&inst.instance_id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1].kind,
        EventKind::ExecutionCompleted { result: "7".into() }
    );
    assert!(store.unfinished_instances().unwrap().is_empty());
    assert!(
        store
            .instance(&InstanceId::parse("zzz").unwrap())
            .unwrap()
            .is_none()
    );
}

#[test]
fn inbox_messages_are_queued_consumed_and_refused_for_finished_instances() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(StoreOptions::new(dir.path().join("db.sqlite"))).unwrap();
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
    rt().block_on(async {
        let missing = store.write(vec![enqueue("nobody", 0, true)]).await;
        assert!(matches!(missing, Err(StoreError::NoSuchInstance(_))));
        store
            .write(vec![enqueue("nobody", 0, false)])
            .await
            .unwrap();
        store
            .write(vec![Op::CreateInstance {
                instance: inst.clone(),
                started: started(),
            }])
            .await
            .unwrap();
        for n in 1..=3 {
            store.write(vec![enqueue("a", n, true)]).await.unwrap();
        }
        assert_eq!(
            store.inbox(&inst.instance_id).unwrap(),
            vec![message(1), message(2), message(3)]
        );
        // Consuming m1 with a turn removes it atomically with the turn's events.
        store
            .write(vec![Op::Append {
                instance_id: inst.instance_id.clone(),
                execution_id: inst.execution_id.clone(),
                events: vec![],
                consumed: vec!["m1".into()],
                update: InstanceUpdate {
                    updated_ms: 3,
                    ..InstanceUpdate::default()
                },
            }])
            .await
            .unwrap();
        assert_eq!(
            store.inbox(&inst.instance_id).unwrap(),
            vec![message(2), message(3)]
        );
        // Finishing drops the rest; nothing more can be queued.
        store
            .write(vec![Op::Append {
                instance_id: inst.instance_id.clone(),
                execution_id: inst.execution_id.clone(),
                events: vec![],
                consumed: vec![],
                update: InstanceUpdate {
                    status: Some(RuntimeStatus::Completed),
                    updated_ms: 4,
                    ..InstanceUpdate::default()
                },
            }])
            .await
            .unwrap();
        assert!(store.inbox(&inst.instance_id).unwrap().is_empty());
        let late = store.write(vec![enqueue("a", 4, true)]).await;
        assert!(matches!(late, Err(StoreError::InstanceFinished(_))));
    });
}

#[test]
fn group_commit_keeps_each_batch_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(StoreOptions::new(dir.path().join("db.sqlite"))).unwrap();
    rt().block_on(async {
        let tickets: Vec<_> = (0..50)
            .map(|i| {
                store.write(vec![Op::CreateInstance {
                    instance: instance(&format!("i{}", i % 25), RuntimeStatus::Running),
                    started: started(),
                }])
            })
            .collect();
        let mut ok = 0;
        let mut dup = 0;
        for t in tickets {
            match t.await {
                Ok(()) => ok += 1,
                Err(StoreError::InstanceExists(_)) => dup += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((ok, dup), (25, 25));
    });
    assert_eq!(store.unfinished_instances().unwrap().len(), 25);
}

#[test]
fn sqlite_failures_map_to_errors_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let writer = Connection::open(&path).unwrap();
    writer.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    // A database that cannot be written: ReadOnly, retriable (503), with the fix in the message.
    let reader =
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let err = StoreError::from(reader.execute("INSERT INTO t VALUES (1)", []).unwrap_err());
    assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    assert!(err.is_retriable());
    assert!(err.to_string().contains("read-only"), "{err}");
    // A lock held elsewhere past the busy timeout: Busy, retriable.
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let other = Connection::open(&path).unwrap();
    other.busy_timeout(Duration::from_millis(10)).unwrap();
    let err = StoreError::from(other.execute("INSERT INTO t VALUES (2)", []).unwrap_err());
    assert!(matches!(err, StoreError::Busy(_)), "{err:?}");
    assert!(err.is_retriable());
    writer.execute_batch("COMMIT").unwrap();
}

/// A store whose writer holds its first job for a moment (so the next ones queue up and share
/// one transaction) and simulates SQLite abandoning the whole transaction at instance `fail`.
fn store_with_fault(dir: &Path, fail: &'static str) -> Arc<SqliteStore> {
    let mut options = StoreOptions::new(dir.join("db.sqlite"));
    options.fault = Some(FaultHook(Arc::new(move |ops: &[Op]| {
        let Some(Op::CreateInstance { instance, .. }) = ops.first() else {
            return false;
        };
        if instance.instance_id.as_str() == "hold" {
            std::thread::sleep(Duration::from_millis(300));
        }
        instance.instance_id.as_str() == fail
    })));
    SqliteStore::open(options).unwrap()
}

fn create(id: &str) -> Vec<Op> {
    vec![Op::CreateInstance {
        instance: instance(id, RuntimeStatus::Running),
        started: started(),
    }]
}

#[test]
fn a_transaction_abandoned_mid_batch_reports_every_job_truthfully() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_fault(dir.path(), "i7");
    let results = rt().block_on(async {
        let hold = store.write(create("hold"));
        let tickets: Vec<_> = (0..15)
            .map(|i| store.write(create(&format!("i{i}"))))
            .collect();
        hold.await.unwrap();
        let mut results = Vec::new();
        for t in tickets {
            results.push(t.await);
        }
        results
    });
    assert!(
        store.stats().commits <= 3,
        "the jobs shared a transaction: {:?}",
        store.stats()
    );
    for (i, result) in results.iter().enumerate() {
        let id = InstanceId::parse(&format!("i{i}")).unwrap();
        let stored = store.instance(&id).unwrap().is_some();
        if i == 7 {
            assert!(matches!(result, Err(StoreError::DiskFull(_))), "{result:?}");
            assert!(!stored, "the job that broke the transaction is not stored");
        } else {
            // Before the fix: the jobs after i7 were committed one by one outside any
            // transaction, and then every job (committed or not) was reported as failed.
            assert!(result.is_ok(), "job i{i}: {result:?}");
            assert!(stored, "job i{i} was acknowledged, so it is stored");
        }
    }
}

#[test]
fn a_large_job_gets_a_transaction_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_fault(dir.path(), "none");
    let mut big = instance("big", RuntimeStatus::Running);
    big.input = format!("\"{}\"", "x".repeat(2 << 20));
    rt().block_on(async {
        let hold = store.write(create("hold"));
        // The writer is now holding "hold" alone; the rest queue up behind it.
        std::thread::sleep(Duration::from_millis(50));
        let mut tickets: Vec<_> = (0..5)
            .map(|i| store.write(create(&format!("a{i}"))))
            .collect();
        tickets.push(store.write(vec![Op::CreateInstance {
            instance: big,
            started: started(),
        }]));
        tickets.extend((0..5).map(|i| store.write(create(&format!("b{i}")))));
        hold.await.unwrap();
        for t in tickets {
            t.await.unwrap();
        }
    });
    // hold | a0..a4 | big | b0..b4
    assert_eq!(store.stats().commits, 4, "{:?}", store.stats());
}

#[test]
fn writes_for_an_execution_that_has_moved_on_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(StoreOptions::new(dir.path().join("db.sqlite"))).unwrap();
    let inst = instance("a", RuntimeStatus::Running);
    let old = inst.execution_id.clone();
    let new = ExecutionId::random();
    let finish = |execution: &ExecutionId, seq: u64| Op::Append {
        instance_id: inst.instance_id.clone(),
        execution_id: execution.clone(),
        events: vec![Event {
            seq,
            timestamp_ms: 2,
            kind: EventKind::ExecutionCompleted { result: "1".into() },
        }],
        consumed: Vec::new(),
        update: InstanceUpdate {
            status: Some(RuntimeStatus::Completed),
            output: Some("1".into()),
            updated_ms: 2,
            ..InstanceUpdate::default()
        },
    };
    let continue_as_new = |from: &ExecutionId, to: &ExecutionId| Op::ContinueAsNew {
        instance_id: inst.instance_id.clone(),
        from_execution: from.clone(),
        execution_id: to.clone(),
        input: "2".into(),
        started: started(),
        consumed: Vec::new(),
        updated_ms: 2,
    };
    rt().block_on(async {
        store.write(create_with(&inst)).await.unwrap();
        store
            .write(vec![continue_as_new(&old, &new)])
            .await
            .unwrap();
        // The old execution's actor, still finishing, must not overwrite its successor.
        let stale = store.write(vec![finish(&old, 1)]).await;
        assert!(
            matches!(stale, Err(StoreError::StaleExecution { .. })),
            "{stale:?}"
        );
        let stale = store
            .write(vec![continue_as_new(&old, &ExecutionId::random())])
            .await;
        assert!(
            matches!(stale, Err(StoreError::StaleExecution { .. })),
            "{stale:?}"
        );
        let row = store.instance(&inst.instance_id).unwrap().unwrap();
        assert_eq!(
            (row.status, row.execution_id.clone()),
            (RuntimeStatus::Running, new.clone())
        );
        store.write(vec![finish(&new, 1)]).await.unwrap();
    });
    assert_eq!(
        store.instance(&inst.instance_id).unwrap().unwrap().status,
        RuntimeStatus::Completed
    );
}

fn create_with(inst: &Instance) -> Vec<Op> {
    vec![Op::CreateInstance {
        instance: inst.clone(),
        started: started(),
    }]
}

#[cfg(unix)]
#[test]
fn the_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let _store = SqliteStore::open(StoreOptions::new(&path)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn statuses_round_trip_and_an_unknown_one_reads_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(StoreOptions::new(&path)).unwrap();
    for status in RuntimeStatus::ALL {
        let inst = instance(&format!("s-{}", status.as_str()), status);
        rt().block_on(store.write(create_with(&inst))).unwrap();
        let row = store.instance(&inst.instance_id).unwrap().unwrap();
        assert_eq!(row.status, status);
    }
    let unfinished = store.unfinished_instances().unwrap();
    let mut names: Vec<_> = unfinished.iter().map(|i| i.status.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Pending", "Running", "Suspended"]);
    // A row written by something else: not retried as a database hiccup.
    let other = Connection::open(&path).unwrap();
    other
        .execute(
            "UPDATE instances SET status = 'Sleeping' WHERE instance_id = 's-Running'",
            [],
        )
        .unwrap();
    let id = InstanceId::parse("s-Running").unwrap();
    let err = store.instance(&id).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("unknown instance status 'Sleeping'"),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[test]
fn component_kinds_round_trip_and_an_unknown_one_reads_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let store = SqliteStore::open(StoreOptions::new(&path)).unwrap();
    for (digest, kind) in [
        ("d1", ComponentKind::Orchestrator),
        ("d2", ComponentKind::Activity),
    ] {
        let put = Op::PutComponent {
            digest: digest.into(),
            kind,
            names: vec![format!("{}-name", kind.as_str())],
            bytes: Arc::new(vec![0]),
            added_ms: 1,
        };
        let names = vec![format!("{}-name", kind.as_str())];
        let route = Op::Activate {
            kind,
            names,
            digest: digest.into(),
            activated_ms: 2,
        };
        rt().block_on(store.write(vec![put, route])).unwrap();
    }
    let kinds: Vec<_> = store.components().unwrap().iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [ComponentKind::Orchestrator, ComponentKind::Activity]
    );
    let routed: Vec<_> = store.routes().unwrap().iter().map(|r| r.kind).collect();
    assert_eq!(
        routed,
        [ComponentKind::Activity, ComponentKind::Orchestrator]
    );
    let other = Connection::open(&path).unwrap();
    other
        .execute(
            "UPDATE components SET kind = 'plugin' WHERE digest = 'd1'",
            [],
        )
        .unwrap();
    let err = store.components().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().contains("unknown component kind 'plugin'"),
        "{err}"
    );
}
