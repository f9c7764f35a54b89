//! What the API acknowledged survives `kill -9`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{Server, confirmation, count_events, seed_config};
use serde_json::json;

#[test]
fn acknowledged_orders_complete_exactly_once_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let addr = server.addr.clone();
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));

    // Eight clients post orders as fast as they can; the host is killed while they do.
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let addr = addr.clone();
            let acknowledged = Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                for i in 0..200 {
                    let order_id = format!("K-{c}-{i}");
                    let body = json!({"orderId": order_id, "customerId": "c"}).to_string();
                    let path = Server::keyed("/api/orchestrators/order-processing");
                    match e2e::request(&addr, "POST", &path, Some(&body), &[]) {
                        Ok(r) if r.status == 202 => {
                            let id = r.json().unwrap()["id"].as_str().unwrap().to_owned();
                            acknowledged.lock().unwrap().push((id, order_id));
                        }
                        // The host died mid-request: not acknowledged, so nothing is promised.
                        _ => break,
                    }
                }
            })
        })
        .collect();
    // Let some orders through, then kill while work is in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 150 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let config = server.config.clone();
    let data_dir = server.data_dir.clone();
    server.kill9();
    for c in clients {
        c.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 150,
        "only {} orders acknowledged",
        acknowledged.len()
    );

    // How many were still unfinished at the moment of the kill (evidence the kill hit work).
    let unfinished: i64 = rusqlite::Connection::open(data_dir.join("durable.sqlite"))
        .unwrap()
        .query_row(
            "SELECT count(*) FROM instances WHERE status IN ('Pending','Running')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    eprintln!(
        "acknowledged {} orders, {unfinished} unfinished at the kill",
        acknowledged.len()
    );

    let server = Server::start_with(&config, &data_dir).unwrap();
    for (id, order_id) in &acknowledged {
        let status = server.wait_finished(id, Duration::from_secs(60)).unwrap();
        assert_eq!(status["runtimeStatus"], "Completed", "{status}");
        assert_eq!(status["output"], confirmation(order_id));
    }
    // Exactly one completion per instance, and gapless histories, checked in the database.
    let conn = rusqlite::Connection::open(data_dir.join("durable.sqlite")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT instance_id, count(*), max(seq), sum(event_type = 'ExecutionCompleted') FROM history GROUP BY instance_id",
        )
        .unwrap();
    let rows: Vec<(String, i64, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() >= acknowledged.len());
    for (id, count, max_seq, completions) in rows {
        assert_eq!(
            count,
            max_seq + 1,
            "instance {id} history has a gap or duplicate"
        );
        assert_eq!(
            completions, 1,
            "instance {id} has {completions} ExecutionCompleted events"
        );
    }
    let (id, _) = &acknowledged[0];
    assert_eq!(count_events(&server, id, "ExecutionCompleted").unwrap(), 1);
}
