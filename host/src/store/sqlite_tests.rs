//! Unit tests of `sqlite.rs`.
use super::*;

use crate::store::contract_tests::{create_with, instance, rt, started};

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
fn a_job_that_fails_in_a_shared_transaction_is_undone_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_fault(dir.path(), "none");
    let results = rt().block_on(async {
        let hold = store.write(create("hold"));
        // The writer is holding "hold" alone; these three queue up and share one transaction.
        std::thread::sleep(Duration::from_millis(50));
        let first = store.write(create("a0"));
        // Its first op succeeds, its second conflicts with the job before it.
        let mut ops = create("a1");
        ops.extend(create("a0"));
        let second = store.write(ops);
        let third = store.write(create("a2"));
        hold.await.unwrap();
        [first.await, second.await, third.await]
    });
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(StoreError::InstanceExists(_))),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    let stored = |id: &str| store.instance(&InstanceId::parse(id).unwrap()).unwrap();
    assert!(stored("a0").is_some() && stored("a2").is_some());
    assert!(
        stored("a1").is_none(),
        "the failed job's first op was undone"
    );
    assert_eq!(store.stats().commits, 2, "{:?}", store.stats());
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
