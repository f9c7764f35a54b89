//! The dashboard in a real browser: Debian's headless Chromium, driven over WebDriver, against
//! the real host with the seed's components and a real SQLite file. Screenshots go to
//! `target/dashboard-screenshots/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use e2e::webdriver::Browser;
use e2e::{KEY, Server, seed_config};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);

/// One browser and host at a time: each test loads both cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fails at once with the page's error toast, if it shows one.
fn no_error_toast(browser: &Browser) -> Result<()> {
    let shown = browser.find_all("#toast.show.error")?;
    if let Some(toast) = shown.first() {
        bail!("the page says: {}", browser.text(toast)?);
    }
    Ok(())
}

fn screenshots() -> PathBuf {
    e2e::root().join("target/dashboard-screenshots")
}

fn url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

/// Signs in through the login page: a wrong key is refused on the page, the master key lands
/// on `next` with a cookie scripts cannot read, and the key appears in no URL.
fn sign_in(browser: &Browser, server: &Server, next: &str) -> Result<()> {
    browser.goto(&url(server, next))?;
    browser.wait_for("#key", WAIT)?;
    ensure!(browser.current_url()?.contains("/dashboard/login?next="));
    let key = browser.find("#key")?;
    browser.type_text(&key, "not-the-key")?;
    browser.click(&browser.find("#sign-in")?)?;
    browser.wait_text("#login-error", "not this host's master key", WAIT)?;
    let key = browser.find("#key")?;
    browser.type_text(&key, KEY)?;
    browser.click(&browser.find("#sign-in")?)?;
    browser.wait_until("the page after sign-in", WAIT, |b| {
        Ok(!b.current_url()?.contains("/login"))
    })?;
    let at = browser.current_url()?;
    ensure!(at.ends_with(next), "signed in at {at}, not {next}");
    ensure!(!at.contains(KEY), "the key is in the URL: {at}");
    let cookies = browser.cookies()?;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "durable_session")
        .context("no session cookie")?;
    ensure!(session["httpOnly"] == true, "{session}");
    ensure!(session["sameSite"] == "Strict", "{session}");
    ensure!(!session["value"].as_str().unwrap_or("").contains(KEY));
    Ok(())
}

fn count(browser: &Browser, css: &str) -> Result<usize> {
    Ok(browser.find_all(css)?.len())
}

#[test]
fn the_dashboard_works_in_a_real_browser() -> Result<()> {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &seed_config(""))?;
    let orders: Vec<String> = (0..3)
        .map(|i| server.start_order(&json!({"orderId": format!("dash-{i}"), "customerId": "c"})))
        .collect::<Result<_>>()?;
    let failing = server.start_order(&json!({"orderId": "dash-bad"}))?;
    for id in orders.iter().chain([&failing]) {
        server.wait_finished(id, WAIT)?;
    }
    let approval = server.start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)?;
    let doomed = server.start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)?;
    let diverging = server.start_orchestration("approvalWorkflow", r#"{"timeoutMs": 3600000}"#)?;

    let browser = Browser::start()?;
    sign_in(&browser, &server, "/dashboard")?;

    // The list: every instance, counts by status.
    browser.wait_for(&format!("tr[data-id='{}']", orders[2]), WAIT)?;
    for id in orders.iter().chain([&failing, &approval]) {
        browser.find(&format!("tr[data-id='{id}']"))?;
    }
    browser.wait_text("#count-Completed", "3", WAIT)?;
    browser.wait_text("#count-Failed", "1", WAIT)?;
    browser.wait_text("#count-Running", "3", WAIT)?;
    browser.screenshot(&screenshots().join("list.png"))?;

    // Filter to Failed: only the failed order, and the filter is in the URL.
    browser.click(&browser.find("#count-Failed")?)?;
    browser.wait_until("only Failed rows", WAIT, |b| {
        let rows = b.find_all("tr.row")?;
        let failed = b.find_all("tr.row[data-status='Failed']")?;
        Ok(rows.len() == 1 && failed.len() == 1)
    })?;
    browser.find(&format!("tr[data-id='{failing}']"))?;
    ensure!(browser.current_url()?.contains("status=Failed"));
    // A shared URL opens the same filtered view.
    browser.goto(&browser.current_url()?)?;
    browser.wait_for(&format!("tr[data-id='{failing}']"), WAIT)?;
    ensure!(count(&browser, "tr.row")? == 1);
    // Bulk purge of the selection.
    browser.click(&browser.find("#select-all")?)?;
    browser.wait_text("#selected-count", "1 selected", WAIT)?;
    browser.click(&browser.find("#bulk-purge")?)?;
    ensure!(browser.alert_text()?.contains("Purge 1 instance"));
    browser.accept_alert()?;
    browser.wait_for("#no-instances", WAIT)?;
    ensure!(server.status(&failing, "")?.status == 404, "not purged");

    timeline_and_replay(&browser, &server, &orders[0])?;
    raise_an_event_live(&browser, &server, &approval)?;
    terminate_from_the_ui(&browser, &server, &doomed)?;
    cookie_needs_csrf(&browser, &server, &orders[1])?;
    divergence_and_rollback(&browser, &server, &diverging)?;

    // Signing out forgets the session.
    browser.click(&browser.find("#logout")?)?;
    browser.wait_for("#key", WAIT)?;
    browser.goto(&url(&server, "/dashboard"))?;
    browser.wait_for("#key", WAIT)?;
    Ok(())
}

/// One bar per activity with its duration, then the orchestrator's state after event N.
fn timeline_and_replay(browser: &Browser, server: &Server, id: &str) -> Result<()> {
    browser.goto(&url(server, &format!("/dashboard/instances/{id}")))?;
    browser.wait_text("#inst-status", "Completed", WAIT)?;
    browser.wait_until("three activity bars", WAIT, |b| {
        Ok(count(b, ".bar.activity.completed")? == 3)
    })?;
    let labels: Vec<String> = browser
        .find_all(".tl-row .tl-label")?
        .iter()
        .map(|e| browser.text(e))
        .collect::<Result<_>>()?;
    for (label, name) in
        labels
            .iter()
            .zip(["validateOrder", "reserveInventory", "emitConfirmation"])
    {
        ensure!(label.contains(name), "{labels:?}");
    }
    for dur in browser.find_all(".tl-row .dur")? {
        let text = browser.text(&dur)?;
        ensure!(
            text.ends_with(" ms") || text.ends_with(" s"),
            "duration '{text}'"
        );
    }
    browser.screenshot(&screenshots().join("timeline.png"))?;

    // Replay after the first activity's result: two decisions made, the second pending,
    // the log lines of the first two turns.
    let first_result = server
        .history_events(id)?
        .iter()
        .find(|e| e["EventType"] == "TaskCompleted")
        .and_then(|e| e["EventId"].as_u64())
        .context("no TaskCompleted")?;
    browser.goto(&url(
        server,
        &format!("/dashboard/instances/{id}?tab=replay&position={first_result}"),
    ))?;
    browser.wait_text(
        "#replay-summary",
        &format!("After event {first_result}"),
        WAIT,
    )?;
    ensure!(count(browser, "#replay-decisions li")? == 2);
    let pending = browser.text(&browser.find("#replay-pending")?)?;
    ensure!(pending.contains("reserveInventory"), "{pending}");
    let logs = browser.text(&browser.find("#replay-logs")?)?;
    ensure!(logs.contains("turn 0 [info] validating order"), "{logs}");
    ensure!(logs.contains("turn 1 [info] order valid"), "{logs}");
    ensure!(!logs.contains("emitting"), "{logs}");
    browser.screenshot(&screenshots().join("replay.png"))?;
    Ok(())
}

/// Raising an event from the page completes the instance, seen without a reload.
fn raise_an_event_live(browser: &Browser, server: &Server, id: &str) -> Result<()> {
    browser.goto(&url(server, &format!("/dashboard/instances/{id}")))?;
    browser.wait_text("#inst-status", "Running", WAIT)?;
    browser.wait_for(".bar.event.pending", WAIT)?;
    browser.execute("window.__notReloaded = 42;", vec![])?;
    browser.type_text(&browser.find("#raise-name")?, "Approval")?;
    browser.type_text(&browser.find("#raise-data")?, r#"{"approvedBy":"ops"}"#)?;
    browser.click(&browser.find("#raise-send")?)?;
    ensure!(browser.alert_text()?.contains("Raise event 'Approval'"));
    browser.accept_alert()?;
    browser.wait_text("#inst-status", "Completed", WAIT)?;
    browser.wait_text("#inst-output", "ops", WAIT)?;
    let kept = browser.execute("return window.__notReloaded;", vec![])?;
    ensure!(kept == json!(42), "the page reloaded");
    ensure!(browser.find_all(".bar.event.completed")?.len() == 1);
    let status = server.status(id, "")?.json()?;
    ensure!(status["runtimeStatus"] == "Completed", "{status}");
    Ok(())
}

fn terminate_from_the_ui(browser: &Browser, server: &Server, id: &str) -> Result<()> {
    browser.goto(&url(server, &format!("/dashboard/instances/{id}")))?;
    browser.wait_text("#inst-status", "Running", WAIT)?;
    browser.click(&browser.find("#act-terminate")?)?;
    ensure!(browser.alert_text()?.contains("Terminate instance"));
    browser.accept_alert()?;
    browser.wait_text("#inst-status", "Terminated", WAIT)?;
    let status = server.status(id, "")?.json()?;
    ensure!(status["runtimeStatus"] == "Terminated", "{status}");
    Ok(())
}

/// The session cookie alone cannot change anything: a state-changing call also needs the
/// page's CSRF token; without a cookie or key it is 401.
fn cookie_needs_csrf(browser: &Browser, server: &Server, id: &str) -> Result<()> {
    let cookie = browser
        .cookies()?
        .into_iter()
        .find(|c| c["name"] == "durable_session")
        .and_then(|c| c["value"].as_str().map(str::to_owned))
        .context("no session cookie")?;
    let cookie = format!("durable_session={cookie}");
    let csrf = browser.execute(
        "return document.querySelector('meta[name=\"csrf-token\"]').content;",
        vec![],
    )?;
    let csrf = csrf.as_str().context("no CSRF token")?.to_owned();
    let path = format!("/runtime/webhooks/durabletask/instances/{id}");
    let read = server.request_with("GET", &path, None, &[("cookie", &cookie)])?;
    ensure!(read.status == 200, "GET with the cookie: {}", read.status);
    let purge = |headers: &[(&str, &str)]| server.request_with("DELETE", &path, None, headers);
    let r = purge(&[("cookie", &cookie)])?;
    ensure!(r.status == 403, "{} {}", r.status, r.body);
    ensure!(r.body.contains("x-durable-csrf"), "{}", r.body);
    let r = purge(&[("cookie", &cookie), ("x-durable-csrf", "forged")])?;
    ensure!(r.status == 403, "{} {}", r.status, r.body);
    let r = purge(&[("x-durable-csrf", &csrf)])?;
    ensure!(r.status == 401, "{} {}", r.status, r.body);
    ensure!(
        server.status(id, "")?.status == 200,
        "purged without a valid session"
    );
    // A starter is the app's route: a session does not stand in for its key.
    let signed_in = [
        ("cookie", cookie.as_str()),
        ("x-durable-csrf", csrf.as_str()),
    ];
    let start = server.request_with(
        "POST",
        "/api/orchestrators/order-processing",
        Some(r#"{"orderId":"x","customerId":"c"}"#),
        &signed_in,
    )?;
    ensure!(start.status == 401, "{} {}", start.status, start.body);
    let r = purge(&signed_in)?;
    ensure!(r.status == 200, "{} {}", r.status, r.body);
    ensure!(server.status(id, "")?.status == 404);
    Ok(())
}

/// A new orchestrator version that would not replay a running instance: the timeline says
/// where it diverges; rolling back from the components page makes it replay again.
fn divergence_and_rollback(browser: &Browser, server: &Server, id: &str) -> Result<()> {
    let v2 = e2e::guest("orchestrator-v2");
    let os = std::ffi::OsStr::new;
    let (ok, out, err) = server.cli(&[os("deploy"), os("orchestrator"), v2.as_os_str()]);
    ensure!(ok, "deploy: {out} {err}");
    browser.goto(&url(server, &format!("/dashboard/instances/{id}")))?;
    // v2's approvalWorkflow first calls sayHello: its first decision differs from the timer
    // recorded at event 1.
    browser.wait_text("#divergence", "would diverge at event 1", WAIT)?;
    browser.find(".tl-row.diverged")?;
    browser.screenshot(&screenshots().join("divergence.png"))?;

    let pinned = browser.text(&browser.find("#inst-digest")?)?;

    browser.goto(&url(server, "/dashboard/components"))?;
    let old_row = format!("#components tr[data-digest='{pinned}']");
    let activate = browser.wait_for(&format!("{old_row} .activate"), WAIT)?;
    browser.click(&activate)?;
    ensure!(browser.alert_text()?.contains("approvalWorkflow"));
    browser.accept_alert()?;
    browser.wait_until("the old orchestrator serving again", WAIT, |b| {
        no_error_toast(b)?;
        // (While the table reloads there are no rows at all.)
        let row_drawn = !b.find_all(&old_row)?.is_empty();
        Ok(row_drawn && b.find_all(&format!("{old_row} .activate"))?.is_empty())
    })?;
    // Now the new version is the one that can be activated (rolled forward).
    ensure!(count(browser, "#components .activate")? == 1);
    let routes = server
        .request("GET", &Server::keyed("/admin/components"), None)?
        .json()?;
    let serving = routes["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "approvalWorkflow")
        .map(|r| r["digest"].clone());
    ensure!(serving == Some(json!(pinned)), "{routes}");
    browser.screenshot(&screenshots().join("components.png"))?;
    browser.goto(&url(server, &format!("/dashboard/instances/{id}")))?;
    browser.wait_for(".tl-row", WAIT)?;
    std::thread::sleep(Duration::from_millis(500));
    ensure!(browser.find_all(".tl-row.diverged")?.is_empty());
    Ok(())
}

/// Milliseconds from navigation start until the page marked itself drawn.
fn load_ms(browser: &Browser, page: &str, mark: &str) -> Result<f64> {
    browser.goto(page)?;
    let script = format!("return document.body.dataset.{mark} || null;");
    let mut waited = Instant::now();
    loop {
        let v = browser.execute(&script, vec![])?;
        if let Some(t) = v.as_str().and_then(|t| t.parse::<f64>().ok()) {
            return Ok(t);
        }
        if waited.elapsed() > WAIT {
            bail!("{page} never set {mark}");
        }
        std::thread::sleep(Duration::from_millis(20));
        if waited.elapsed() > WAIT * 2 {
            waited = Instant::now();
        }
    }
}

/// 10,000 stored instances and an instance with 10,000 activity calls: the pages stay quick
/// (printed, not asserted: speed is for benchmarks), the timeline draws only what is seen and
/// sums the rest up.
#[test]
fn big_lists_and_timelines_stay_usable() -> Result<()> {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &seed_config(""))?;
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let server = &server;
                s.spawn(move || -> Result<()> {
                    for i in 0..1250 {
                        server
                            .start_orchestration("echo", &format!("{{\"n\":{}}}", w * 1250 + i))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a starter panicked"))??;
        }
        Ok(())
    })?;
    eprintln!("10,000 instances started in {:?}", started.elapsed());
    let order = server.start_order(&json!({"orderId": "big-1", "customerId": "c"}))?;
    server.wait_finished(&order, WAIT)?;
    let fan = server.start_orchestration("fanOutFanIn", "10000")?;
    server.wait_finished(&fan, Duration::from_secs(120))?;

    let browser = Browser::start()?;
    sign_in(&browser, &server, "/dashboard/components")?;
    browser.wait_for("#components tr[data-digest]", WAIT)?;
    let mut list = Vec::new();
    let mut small = Vec::new();
    let mut page = Vec::new();
    for _ in 0..5 {
        list.push(load_ms(
            &browser,
            &url(&server, "/dashboard"),
            "listLoadedAt",
        )?);
        let one = url(&server, &format!("/dashboard/instances/{order}"));
        small.push(load_ms(&browser, &one, "instanceLoadedAt")?);
        let inst = url(&server, &format!("/dashboard/instances/{fan}"));
        page.push(load_ms(&browser, &inst, "instanceLoadedAt")?);
    }
    for v in [&mut list, &mut small, &mut page] {
        v.sort_by(f64::total_cmp);
    }
    eprintln!(
        "with 10,002 instances stored (medians of 5, from navigation start): list drawn in \
         {:.0} ms ({list:?}); an order's page in {:.0} ms ({small:?}); an instance with 10,000 \
         activity calls (20,005 events) in {:.0} ms ({page:?})",
        list[2], small[2], page[2]
    );
    browser.wait_text("#timeline-total", "10000 task(s)", WAIT)?;
    browser.wait_for("#timeline-summary", WAIT)?;
    let drawn = count(&browser, ".tl-row")?;
    ensure!(drawn > 0 && drawn < 200, "{drawn} rows drawn of 10,000");
    browser.wait_text("#timeline-summary", "square", WAIT)?;
    browser.screenshot(&screenshots().join("timeline-10000.png"))?;
    Ok(())
}
