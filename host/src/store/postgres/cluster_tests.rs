//! Two hosts' stores on one PostgreSQL database (in one process, a throw-away cluster): the
//! partition leases' fencing and the notifications between hosts.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Event, EventKind, RuntimeStatus};
use crate::ids::InstanceId;
use crate::store::contract_tests::{create_with, instance, rt};
use crate::store::{
    ClusterEvent, InboxMessage, InstanceUpdate, LeaseOptions, Op, PostgresOptions, PostgresStore,
    Store, StoreError, partition_of,
};

fn open(rt: &tokio::runtime::Runtime, url: &str, host: &str) -> Arc<PostgresStore> {
    let lease = LeaseOptions {
        host_id: host.into(),
        ttl: Duration::from_secs(3),
        renew: Duration::from_millis(500),
    };
    rt.block_on(PostgresStore::open(PostgresOptions::new(url, lease)))
        .unwrap()
}

fn turn(
    id: &InstanceId,
    execution: &crate::ids::ExecutionId,
    seq: u64,
    status: RuntimeStatus,
) -> Op {
    Op::Append {
        instance_id: id.clone(),
        execution_id: execution.clone(),
        events: vec![Event {
            seq,
            timestamp_ms: 2,
            kind: EventKind::EventRaised {
                name: "step".into(),
                input: seq.to_string(),
            },
        }],
        consumed: Vec::new(),
        update: InstanceUpdate {
            status: Some(status),
            updated_ms: 2,
            ..InstanceUpdate::default()
        },
    }
}

fn next_event(
    rt: &tokio::runtime::Runtime,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
    wanted: impl Fn(&ClusterEvent) -> bool,
) -> Option<ClusterEvent> {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(event) = events.recv().await {
                if wanted(&event) {
                    return Some(event);
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    })
}

#[test]
fn a_host_that_lost_its_lease_cannot_commit_and_the_new_owner_is_woken() {
    let cluster = pgtest::Cluster::start().unwrap();
    let url = cluster.create_database("durable").unwrap();
    let rt = rt();
    let a = open(&rt, &url, "host-a");
    let inst = instance("fenced-1", RuntimeStatus::Running);
    let (id, execution) = (inst.instance_id.clone(), inst.execution_id.clone());
    let p = partition_of(&id);
    assert!(a.is_local(&id), "a lone host holds every partition");
    rt.block_on(a.write(create_with(&inst))).unwrap();

    // Host A's lease on the instance's partition lapses (as if A were paused) and B takes it.
    let expire =
        format!("UPDATE partitions SET expires_at = now() - interval '1 s' WHERE id = {p}");
    cluster.psql("durable", &expire).unwrap();
    let b = open(&rt, &url, "host-b");
    let mut b_events = b.cluster_events().unwrap();
    assert!(b.is_local(&id), "B took the lapsed partition");
    assert!(
        a.is_local(&id),
        "A has not noticed yet: only the database can refuse it"
    );

    // A's late write is refused by the database; B's goes through.
    let late = rt.block_on(a.write(vec![turn(&id, &execution, 1, RuntimeStatus::Running)]));
    assert!(
        matches!(late, Err(StoreError::Fenced { partition }) if partition == p),
        "{late:?}"
    );
    assert_eq!(a.stats().fenced, 1);
    let history = a.history(&id).unwrap();
    assert_eq!(history.len(), 1, "nothing stale stored: {history:?}");
    rt.block_on(b.write(vec![turn(&id, &execution, 1, RuntimeStatus::Running)]))
        .unwrap();

    // A learns it lost the partition at its next renewal.
    let mut a_events = a.cluster_events().unwrap();
    let lost = next_event(&rt, &mut a_events, |e| matches!(e, ClusterEvent::Lost(_)));
    assert_eq!(lost, Some(ClusterEvent::Lost(p)));
    assert!(!a.is_local(&id));

    // What A queues for the instance wakes B, its owner now.
    let message = InboxMessage {
        msg_id: "from-a".into(),
        execution_id: None,
        event: EventKind::EventRaised {
            name: "E".into(),
            input: "1".into(),
        },
    };
    let enqueue = Op::Enqueue {
        instance_id: id.clone(),
        message,
        required: true,
        created_ms: 3,
    };
    rt.block_on(a.write(vec![enqueue])).unwrap();
    let woken = next_event(&rt, &mut b_events, |e| matches!(e, ClusterEvent::Wake(_)));
    assert_eq!(woken, Some(ClusterEvent::Wake(id.clone())));

    // An instance A creates there starts on B from the notification (no read); one too big
    // for a notification only wakes B, which reads it.
    let in_p = |prefix: &str| {
        (0..)
            .map(|i| format!("{prefix}-{i}"))
            .find(|id| partition_of(&InstanceId::parse(id).unwrap()) == p)
            .unwrap()
    };
    let small = instance(&in_p("small"), RuntimeStatus::Pending);
    rt.block_on(a.write(create_with(&small))).unwrap();
    let started = next_event(&rt, &mut b_events, |e| matches!(e, ClusterEvent::Start(_)));
    let expected = (small.clone(), create_with(&small).remove(0));
    match (started, expected) {
        (Some(ClusterEvent::Start(got)), (inst, Op::CreateInstance { started, .. })) => {
            assert_eq!(*got, (inst, started));
        }
        (other, _) => panic!("{other:?}"),
    }
    let mut big = instance(&in_p("big"), RuntimeStatus::Pending);
    big.input = format!("\"{}\"", "x".repeat(10_000));
    rt.block_on(a.write(create_with(&big))).unwrap();
    let woken = next_event(&rt, &mut b_events, |e| {
        !matches!(e, ClusterEvent::Acquired(_))
    });
    assert_eq!(woken, Some(ClusterEvent::Wake(big.instance_id.clone())));

    // B finishing it tells A (which may have a caller waiting for it).
    rt.block_on(b.write(vec![turn(&id, &execution, 2, RuntimeStatus::Completed)]))
        .unwrap();
    let done = next_event(&rt, &mut a_events, |e| {
        matches!(e, ClusterEvent::Finished(_))
    });
    assert_eq!(done, Some(ClusterEvent::Finished(id.clone())));
}
