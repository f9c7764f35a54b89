//! Storage faults: with the data directory on a full disk the API answers 503 with a clear
//! message (never a panic, nothing half-written), reads keep working, and everything recovers
//! when space returns.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use e2e::{Server, confirmation, seed_config};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

/// A size-limited tmpfs, unmounted on drop.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(at: &std::path::Path, size: &str) -> Option<TinyFs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?
            .success();
        ok.then(|| TinyFs(at.to_owned()))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A 16 MiB tmpfs under `dir` and the seed config beside it; `None` (after saying so) where a
/// tmpfs cannot be mounted (it needs root; CI and the dev machines run as root).
fn tiny_fs_and_config(dir: &std::path::Path) -> Option<(TinyFs, std::path::PathBuf)> {
    let Some(fs) = TinyFs::mount(&dir.join("fs"), "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here, so a full disk cannot be simulated");
        return None;
    };
    let config = dir.join("durable.toml");
    std::fs::write(&config, seed_config("")).unwrap();
    Some((fs, config))
}

fn fill(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_answers_503_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some((fs, config)) = tiny_fs_and_config(dir.path()) else {
        return;
    };
    let server = Server::start_with(&config, &fs.0.join("data")).unwrap();
    let before = server
        .start_order(&json!({"orderId": "F-1", "customerId": "c"}))
        .unwrap();
    assert_eq!(
        server.wait_finished(&before, T).unwrap()["output"],
        confirmation("F-1")
    );
    let waiting = server
        .start_orchestration("approvalWorkflow", "{}")
        .unwrap();
    server
        .wait_until(&waiting, T, |s| s["customStatus"] == "waiting for approval")
        .unwrap();

    let filler = fs.0.join("filler");
    fill(&filler);
    let order = json!({"orderId": "F-2", "customerId": "c"}).to_string();
    let r = server
        .request(
            "POST",
            &Server::keyed("/api/orchestrators/order-processing"),
            Some(&order),
        )
        .unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("the disk holding the database is full"),
        "{}",
        r.body
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = server
        .request(
            "POST",
            &Server::keyed(&format!(
                "/runtime/webhooks/durabletask/instances/{waiting}/raiseEvent/Approval"
            )),
            Some("1"),
        )
        .unwrap();
    assert_eq!(
        r.status, 503,
        "an event that cannot be stored is refused, not lost: {}",
        r.body
    );
    // Reads still work.
    assert_eq!(server.status(&before, "").unwrap().status, 200);

    std::fs::remove_file(&filler).unwrap();
    let after = server
        .start_order(&json!({"orderId": "F-3", "customerId": "c"}))
        .unwrap();
    assert_eq!(
        server.wait_finished(&after, T).unwrap()["output"],
        confirmation("F-3")
    );
    assert_eq!(
        server.raise(&waiting, "Approval", r#""back""#).unwrap(),
        202
    );
    assert_eq!(server.wait_finished(&waiting, T).unwrap()["output"], "back");
    drop(server);
}

#[test]
fn a_locked_database_is_waited_for_then_refused_with_503_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &seed_config("")).unwrap();
    let first = server
        .start_order(&json!({"orderId": "L-1", "customerId": "c"}))
        .unwrap();
    server.wait_finished(&first, T).unwrap();
    let db = server.data_dir.join("durable.sqlite");
    let order = |n: &str| json!({"orderId": n, "customerId": "c"}).to_string();
    let post = |body: &str| {
        server
            .request(
                "POST",
                &Server::keyed("/api/orchestrators/order-processing"),
                Some(body),
            )
            .unwrap()
    };

    // Another process holds the write lock briefly: the host waits for it (busy timeout) and
    // the start succeeds.
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        locker.execute_batch("COMMIT").unwrap();
    });
    let r = post(&order("L-2"));
    assert_eq!(r.status, 202, "a short lock is waited out: {}", r.body);
    release.join().unwrap();

    // Held past the busy timeout: 503 with the reason and Retry-After, nothing stored.
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = post(&order("L-3"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("busy or locked"), "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);

    // And everything works again.
    let id = server
        .start_order(&json!({"orderId": "L-4", "customerId": "c"}))
        .unwrap();
    assert_eq!(
        server.wait_finished(&id, T).unwrap()["output"],
        confirmation("L-4")
    );
    let listed = server
        .request(
            "GET",
            &Server::keyed("/runtime/webhooks/durabletask/instances?instanceIdPrefix=&top=100"),
            None,
        )
        .unwrap();
    assert!(
        !listed.body.contains("L-3"),
        "the refused start stored nothing"
    );
}

#[test]
fn on_a_nearly_full_disk_every_answer_says_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let Some((fs, config)) = tiny_fs_and_config(dir.path()) else {
        return;
    };
    let data = fs.0.join("data");
    let server = Server::start_with(&config, &data).unwrap();
    // Leave about 5 MiB free, then start many instances at once (so that they share
    // transactions), some large enough that the disk fills in the middle of a batch.
    let filler = fs.0.join("filler");
    fill(&filler);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(5 << 20)).unwrap();
    drop(file);
    let answers: Vec<(String, u16)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    let id = format!("G-{i}");
                    let pad = if i % 2 == 0 { 1_500_000 } else { 10 };
                    let input = json!({"orderId": id, "customerId": "c", "pad": "p".repeat(pad)});
                    let path = Server::keyed(&format!("/api/orchestrators/echo/{id}"));
                    let r = server
                        .request("POST", &path, Some(&input.to_string()))
                        .unwrap();
                    (id, r.status)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused = answers.iter().filter(|(_, s)| *s == 503).count();
    let accepted = answers.iter().filter(|(_, s)| *s == 202).count();
    eprintln!("nearly full disk: {accepted} accepted, {refused} refused");
    assert_eq!(accepted + refused, answers.len(), "{answers:?}");
    assert!(refused > 0, "the disk never filled: {answers:?}");

    std::fs::remove_file(&filler).unwrap();
    server.kill9();
    let server = Server::start_with(&config, &data).unwrap();
    for (id, status) in &answers {
        let r = server.status(id, "").unwrap();
        // Before the fix, starts answered 503 existed (and completed) after the restart.
        match status {
            202 => assert_ne!(r.status, 404, "{id} was acknowledged but is gone"),
            _ => assert_eq!(r.status, 404, "{id} was refused but exists: {}", r.body),
        }
    }
}
