//! The client subcommands: each is one or two HTTP calls and a human-readable rendering.

use std::path::Path;

use serde_json::Value;

use super::client::{Answer, Client};
use super::{CliError, Command, HostArgs};

const API: &str = "/runtime/webhooks/durabletask";

/// Runs a client subcommand and returns what to print. `Serve` is not handled here.
pub fn run_client_command(command: Command) -> Result<String, CliError> {
    match command {
        Command::Serve(_) => Err(CliError::Usage("serve is not a client command".into())),
        Command::Start {
            host,
            name,
            input,
            id,
            wait,
        } => start(&host, &name, input, id, wait),
        Command::Status { host, id } => status(&host, &id),
        Command::List {
            host,
            status,
            prefix,
            top,
        } => list(&host, status, prefix, top),
        Command::Raise {
            host,
            id,
            event,
            data,
        } => raise(&host, &id, &event, data),
        Command::Terminate(args) => control(args, "terminate", "terminated"),
        Command::Suspend(args) => control(args, "suspend", "suspended"),
        Command::Resume(args) => control(args, "resume", "resumed"),
        Command::Purge { host, id } => purge(&host, &id),
        Command::Deploy {
            host,
            kind,
            file,
            check,
            no_activate,
            migrate,
        } => {
            let query = if check {
                "?dryRun=true"
            } else if migrate {
                "?migrate=true"
            } else if no_activate {
                "?activate=false"
            } else {
                ""
            };
            deploy(&host, &kind, &file, query)
        }
        Command::Components { host } => components(&host),
        Command::Activate { host, digest } => activate(&host, &digest),
        Command::History { host, id } => history(&host, &id),
    }
}

/// `durable start NAME`: starts an instance (with `--wait`, waits for its end).
fn start(
    host: &HostArgs,
    name: &str,
    input: Option<String>,
    id: Option<String>,
    wait: Option<f64>,
) -> Result<String, CliError> {
    let input = input.unwrap_or_else(|| "null".into());
    serde_json::from_str::<Value>(&input)
        .map_err(|e| CliError::Usage(format!("--input is not valid JSON: {e}")))?;
    let mut path = format!("/api/orchestrators/{}", encode(name));
    if let Some(id) = &id {
        path.push('/');
        path.push_str(&encode(id));
    }
    if let Some(secs) = wait {
        path.push_str(&format!("?timeout={secs}"));
    }
    let (client, json) = connect(host)?;
    let answer = expect(client.send("POST", &path, Some(&input), &[])?, &[200, 202])?;
    if json {
        return Ok(answer.body);
    }
    let body = answer.json()?;
    Ok(if answer.status == 202 {
        format!(
            "started {}\nstatus: {}",
            body["id"].as_str().unwrap_or("?"),
            body["statusQueryGetUri"].as_str().unwrap_or("")
        )
    } else {
        format!("finished: {}", pretty(&body))
    })
}

/// `durable status ID`.
fn status(host: &HostArgs, id: &str) -> Result<String, CliError> {
    let (client, json) = connect(host)?;
    let answer = expect(
        client.send("GET", &format!("{API}/instances/{}", encode(id)), None, &[])?,
        &[200, 202],
    )?;
    if json {
        return Ok(answer.body);
    }
    let s = answer.json()?;
    Ok(format!(
        "instance:      {}\nname:          {}\nstatus:        {}\ncreated:       {}\nupdated:       {}\ninput:         {}\noutput:        {}\ncustom status: {}",
        text(&s["instanceId"]),
        text(&s["name"]),
        text(&s["runtimeStatus"]),
        text(&s["createdTime"]),
        text(&s["lastUpdatedTime"]),
        s["input"],
        s["output"],
        s["customStatus"],
    ))
}

/// `durable list`: a table of instances.
fn list(
    host: &HostArgs,
    status: Option<String>,
    prefix: Option<String>,
    top: usize,
) -> Result<String, CliError> {
    let mut query = format!("?top={top}");
    if let Some(s) = status {
        query.push_str(&format!("&runtimeStatus={}", encode(&s)));
    }
    if let Some(p) = prefix {
        query.push_str(&format!("&instanceIdPrefix={}", encode(&p)));
    }
    let (client, json) = connect(host)?;
    let answer = expect(
        client.send("GET", &format!("{API}/instances{query}"), None, &[])?,
        &[200],
    )?;
    if json {
        return Ok(answer.body);
    }
    let rows = answer.json()?;
    let mut out = format!(
        "{:<34} {:<28} {:<15} {}\n",
        "INSTANCE", "NAME", "STATUS", "CREATED"
    );
    for r in rows.as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<34} {:<28} {:<15} {}\n",
            text(&r["instanceId"]),
            text(&r["name"]),
            text(&r["runtimeStatus"]),
            text(&r["createdTime"])
        ));
    }
    if answer.header("x-ms-continuation-token").is_some() {
        out.push_str("(more: raise --top or narrow with --status/--prefix)\n");
    }
    Ok(out.trim_end().to_owned())
}

/// `durable raise ID EVENT`.
fn raise(host: &HostArgs, id: &str, event: &str, data: Option<String>) -> Result<String, CliError> {
    let data = data.unwrap_or_else(|| "null".into());
    serde_json::from_str::<Value>(&data)
        .map_err(|e| CliError::Usage(format!("--data is not valid JSON: {e}")))?;
    let (client, _) = connect(host)?;
    let path = format!(
        "{API}/instances/{}/raiseEvent/{}",
        encode(id),
        encode(event)
    );
    expect(client.send("POST", &path, Some(&data), &[])?, &[202])?;
    Ok(format!("raised {event} on {id}"))
}

/// `durable purge ID`.
fn purge(host: &HostArgs, id: &str) -> Result<String, CliError> {
    let (client, json) = connect(host)?;
    let answer = expect(
        client.send(
            "DELETE",
            &format!("{API}/instances/{}", encode(id)),
            None,
            &[],
        )?,
        &[200],
    )?;
    Ok(if json {
        answer.body
    } else {
        format!("purged {id}")
    })
}

/// `durable components`: what serves each name.
fn components(host: &HostArgs) -> Result<String, CliError> {
    let (client, json) = connect(host)?;
    let answer = expect(client.send("GET", "/admin/components", None, &[])?, &[200])?;
    if json {
        return Ok(answer.body);
    }
    let body = answer.json()?;
    let mut out = format!(
        "{:<13} {:<28} {:<73} {}\n",
        "KIND", "NAME", "DIGEST", "ACTIVATED"
    );
    for r in body["routes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<13} {:<28} {:<73} {}\n",
            text(&r["kind"]),
            text(&r["name"]),
            text(&r["digest"]),
            text(&r["activatedTime"])
        ));
    }
    Ok(out.trim_end().to_owned())
}

/// `durable activate DIGEST`: routes a stored version again (rollback).
fn activate(host: &HostArgs, digest: &str) -> Result<String, CliError> {
    let (client, _) = connect(host)?;
    let path = format!("/admin/components/{}/activate", encode(digest));
    let answer = expect(client.send("POST", &path, None, &[])?, &[200])?;
    let d = answer.json()?;
    let names = d["names"]
        .as_array()
        .map(|n| n.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    Ok(format!("activated {digest} for: {names}"))
}

/// `durable history ID`: one line per event.
fn history(host: &HostArgs, id: &str) -> Result<String, CliError> {
    let (client, json) = connect(host)?;
    let path = format!(
        "{API}/instances/{}?showHistory=true&showHistoryOutput=true",
        encode(id)
    );
    let answer = expect(client.send("GET", &path, None, &[])?, &[200, 202])?;
    let body = answer.json()?;
    if json {
        return Ok(body["historyEvents"].to_string());
    }
    let events = body["historyEvents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(history_table(&events))
}

/// Milliseconds since the epoch of an API timestamp (`2026-12-05T10:11:12.345Z`).
fn timestamp_ms(value: &serde_json::Value) -> Option<u64> {
    let text = value.as_str()?;
    let t = ::time::OffsetDateTime::parse(text, &::time::format_description::well_known::Rfc3339)
        .ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `1.234 s`, `12 ms`, `2 min 3 s`.
fn show_duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{}.{:03} s", ms / 1000, ms % 1000),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

/// The history as aligned columns: sequence number, time (UTC, to the millisecond), time
/// since the start, event, task id, how long the task (or the execution) took, detail.
fn history_table(events: &[serde_json::Value]) -> String {
    let start = events.first().and_then(|e| timestamp_ms(&e["Timestamp"]));
    let mut opened: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut rows =
        vec![["SEQ", "TIME (UTC)", "+", "EVENT", "TASK", "TOOK", "DETAIL"].map(str::to_owned)];
    for e in events {
        let at = timestamp_ms(&e["Timestamp"]);
        let kind = e["EventType"].as_str().unwrap_or("?");
        let task = e["TaskScheduledId"].as_u64();
        let took = match (kind, task) {
            ("TaskScheduled" | "TimerCreated" | "SubOrchestrationInstanceCreated", Some(t)) => {
                opened.extend(at.map(|at| (t, at)));
                None
            }
            (_, Some(t)) => opened
                .remove(&t)
                .zip(at)
                .map(|(s, at)| at.saturating_sub(s)),
            (
                "ExecutionCompleted" | "ExecutionFailed" | "ExecutionTerminated" | "ContinuedAsNew",
                None,
            ) => start.zip(at).map(|(s, at)| at.saturating_sub(s)),
            _ => None,
        };
        let detail = e["FunctionName"]
            .as_str()
            .or_else(|| e["Reason"].as_str())
            .unwrap_or_default();
        rows.push([
            e["EventId"].to_string(),
            text(&e["Timestamp"]).replace('T', " ").replace('Z', ""),
            start.zip(at).map_or(String::new(), |(s, at)| {
                format!("+{}", show_duration(at.saturating_sub(s)))
            }),
            kind.to_owned(),
            task.map_or(String::new(), |t| t.to_string()),
            took.map_or(String::new(), show_duration),
            detail.to_owned(),
        ]);
    }
    align(&rows)
}

/// Columns padded to their widest cell (numbers and durations to the right), the last one
/// left as it is.
fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let right = [true, false, true, false, true, true, false];
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i + 1 == N {
                line.push_str(cell);
            } else if right.get(i).copied().unwrap_or(false) {
                line.push_str(&format!("{}{cell}  ", " ".repeat(pad)));
            } else {
                line.push_str(&format!("{cell}{}  ", " ".repeat(pad)));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// `durable deploy KIND FILE`: a component's bytes, or (`app`) a JS app's source under its
/// file name.
fn deploy(host: &HostArgs, kind: &str, file: &Path, query: &str) -> Result<String, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::Usage(format!("reading {}: {e}", file.display())))?;
    let (client, json) = connect(host)?;
    let answer = if kind == "app" {
        let name = crate::jsapp::shown_name(file);
        let path = format!("/admin/apps/{}{query}", encode(&name));
        let headers = [("Content-Type", "application/javascript")];
        client.exchange("POST", &path, &bytes, &headers)?
    } else {
        let path = format!("/admin/components/{}{query}", encode(kind));
        client.send_bytes("POST", &path, &bytes)?
    };
    let answer = expect(answer, &[200])?;
    if json {
        return Ok(answer.body);
    }
    let d = answer.json()?;
    if kind != "app" {
        return Ok(describe_deployed(&d));
    }
    let mut out = Vec::new();
    for role in ["activity", "orchestrator"] {
        if d[role].is_object() {
            out.push(describe_deployed(&d[role]));
        }
    }
    let functions = d["functions"]
        .as_array()
        .map(|n| n.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    if !functions.is_empty() {
        let state = if d["functionsSwapped"] == true {
            "now serve requests"
        } else {
            "not swapped"
        };
        out.push(format!("HTTP functions {functions}: {state}"));
    }
    Ok(out.join("\n"))
}

/// A component deployment (or check) the host reported, for people.
fn describe_deployed(d: &Value) -> String {
    let names = d["names"]
        .as_array()
        .map(|n| n.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    if let Some(divergent) = d["divergent"].as_array() {
        let mut out = format!(
            "checked {} in-flight instance(s) against {}: {} would diverge",
            d["checked"],
            text(&d["digest"]),
            divergent.len()
        );
        if let Some(migrated) = d["migrated"].as_array() {
            out = format!(
                "activated {} for: {names}\n{out}; {} migrated",
                text(&d["digest"]),
                migrated.len()
            );
            for m in migrated {
                out.push_str(&format!("\n  migrated {}", text(m)));
            }
        }
        for v in divergent {
            out.push_str(&format!(
                "\n  {}: {}",
                text(&v["instanceId"]),
                text(&v["reason"])
            ));
        }
        return out;
    }
    let state = if d["activated"] == true {
        "activated"
    } else {
        "stored (not activated)"
    };
    format!(
        "{} {}\n{state} for: {names}",
        text(&d["kind"]),
        text(&d["digest"])
    )
}

fn control(args: super::ControlArgs, operation: &str, done: &str) -> Result<String, CliError> {
    let (client, _) = connect(&args.host)?;
    let path = format!(
        "{API}/instances/{}/{operation}?reason={}",
        encode(&args.id),
        encode(&args.reason)
    );
    expect(client.send("POST", &path, None, &[])?, &[202])?;
    Ok(format!("{done} {}", args.id))
}

fn connect(host: &HostArgs) -> Result<(Client, bool), CliError> {
    let key = host.key.clone().or_else(|| {
        std::fs::read_to_string(".durable/master.key")
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
    });
    Ok((Client::new(&host.url, key)?, host.json))
}

/// Turns an unexpected status into an error that says what to do.
fn expect(answer: Answer, ok: &[u16]) -> Result<Answer, CliError> {
    if ok.contains(&answer.status) {
        return Ok(answer);
    }
    let message = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| answer.body.clone());
    let hint = match answer.status {
        401 => {
            " (pass --key or set DURABLE_MASTER_KEY; `durable serve` prints the key and keeps it in .durable/master.key)"
        }
        404 => " (check the instance id with `durable list`)",
        410 => " (the instance has finished)",
        _ => "",
    };
    Err(CliError::Http {
        status: answer.status,
        message: format!("{message}{hint}"),
    })
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn history_shows_milliseconds_and_task_durations_in_aligned_columns() {
        let events = vec![
            json!({"EventId": 0, "EventType": "ExecutionStarted", "Timestamp": "2026-12-05T10:00:00.000Z", "FunctionName": "o"}),
            json!({"EventId": 1, "EventType": "TaskScheduled", "Timestamp": "2026-12-05T10:00:00.000Z", "FunctionName": "validateOrder", "TaskScheduledId": 0}),
            json!({"EventId": 2, "EventType": "OrchestratorStarted", "Timestamp": "2026-12-05T10:00:01.250Z"}),
            json!({"EventId": 3, "EventType": "TaskCompleted", "Timestamp": "2026-12-05T10:00:01.250Z", "TaskScheduledId": 0}),
            json!({"EventId": 10, "EventType": "ExecutionCompleted", "Timestamp": "2026-12-05T10:00:01.257Z"}),
        ];
        let table = history_table(&events);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(lines[4].contains("2026-12-05 10:00:01.250"), "{table}");
        // The task took 1.25 s, the execution 1.257 s.
        assert!(
            lines[4].contains("TaskCompleted") && lines[4].contains("1.250 s"),
            "{table}"
        );
        assert!(
            lines[5].contains("+1.257 s") && lines[5].ends_with("1.257 s"),
            "{table}"
        );
        // Every row's EVENT column starts at the same place.
        let at = lines[0].find("EVENT").unwrap();
        for (line, event) in lines[1..].iter().zip(["ExecutionStarted", "TaskScheduled"]) {
            assert_eq!(line.find(event), Some(at), "{table}");
        }
        assert_eq!(lines[5].find("ExecutionCompleted"), Some(at), "{table}");
    }
}
