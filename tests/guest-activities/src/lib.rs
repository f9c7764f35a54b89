//! Activities that try to use capabilities, for the sandbox tests: each reports what happened
//! (the content, or the error) so the test can check both grants and refusals.

use std::io::{BufRead, BufReader};

use durable_sdk::{Error, Json};
use serde_json::json;

durable_sdk::activities! {
    "readFile" => read_file,
    "writeFile" => write_file,
    "getEnv" => get_env,
    "connect" => connect,
    "spinForever" => spin_forever,
    "readRequired" => read_required,
    "slowAppend" => slow_append,
    "allocate" => allocate,
    "recurse" => recurse,
    "bigResult" => big_result,
    "failTimes" => fail_times,
    "sleep" => sleep,
    "chatty" => chatty,
}

/// `{"ok": content}` or `{"error": message}`.
fn report<T: Into<Json>>(result: Result<T, String>) -> Result<Json, Error> {
    Ok(match result {
        Ok(v) => json!({"ok": v.into()}),
        Err(e) => json!({"error": e}),
    })
}

pub fn read_file(path: String) -> Result<Json, Error> {
    report(std::fs::read_to_string(&path).map_err(|e| e.to_string()))
}

/// The file's contents; the task fails if it cannot be read (for the rewind tests).
pub fn read_required(path: String) -> Result<String, Error> {
    std::fs::read_to_string(&path).map_err(|e| Error::new(format!("cannot read {path}: {e}")))
}

/// Sleeps `ms`, then appends `line` to the file at `path` (so a test can count the runs).
pub fn slow_append(args: Json) -> Result<String, Error> {
    use std::io::Write;
    let ms = args["ms"].as_u64().unwrap_or(0);
    let path = args["path"].as_str().unwrap_or_default().to_owned();
    let line = args["line"].as_str().unwrap_or_default().to_owned();
    let append = |text: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{text}"))
            .map_err(|e| Error::new(format!("appending to {path}: {e}")))
    };
    if args["marks"] == true {
        append(&format!("start-{line}"))?;
    }
    std::thread::sleep(std::time::Duration::from_millis(ms));
    append(&line)?;
    Ok(line)
}

/// Holds `mib` MiB at once (every page written): a memory bomb when `mib` exceeds the grant.
pub fn allocate(mib: u64) -> Result<u64, Error> {
    let blocks: Vec<Vec<u8>> = (0..mib).map(|_| vec![1u8; 1 << 20]).collect();
    Ok(blocks.iter().map(|b| b.len() as u64).sum::<u64>() >> 20)
}

/// Recurses `depth` levels deep (each level keeps a frame): a stack overflow when deep enough.
pub fn recurse(depth: u64) -> Result<u64, Error> {
    Ok(down(depth))
}

#[inline(never)]
fn down(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let frame = std::hint::black_box([n; 32]);
    1 + down(std::hint::black_box(n - 1)) + frame[31] - n
}

/// A result of `bytes` bytes.
pub fn big_result(bytes: usize) -> Result<String, Error> {
    Ok("x".repeat(bytes))
}

/// Fails until it has been called `times` times (counted in the file at `path`), then returns
/// the count.
pub fn fail_times(args: Json) -> Result<u64, Error> {
    let path = args["path"].as_str().unwrap_or_default().to_owned();
    let times = args["times"].as_u64().unwrap_or(0);
    let calls = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    std::fs::write(&path, calls.to_string())
        .map_err(|e| Error::new(format!("counting in {path}: {e}")))?;
    if calls < times {
        return Err(Error::new(format!("failure {calls} of {}", times - 1)));
    }
    Ok(calls)
}

pub fn write_file(args: Json) -> Result<Json, Error> {
    let path = args["path"].as_str().unwrap_or_default().to_owned();
    let text = args["text"].as_str().unwrap_or_default().to_owned();
    report(
        std::fs::write(&path, text)
            .map(|()| "written")
            .map_err(|e| e.to_string()),
    )
}

/// The variable's value, and how many variables the activity can see in all.
pub fn get_env(name: String) -> Result<Json, Error> {
    Ok(json!({"value": std::env::var(&name).ok(), "count": std::env::vars().count()}))
}

/// Connects to `addr` and reads one line.
pub fn connect(addr: String) -> Result<Json, Error> {
    report(
        std::net::TcpStream::connect(&addr)
            .and_then(|s| {
                let mut line = String::new();
                BufReader::new(s).read_line(&mut line)?;
                Ok(line.trim().to_owned())
            })
            .map_err(|e| e.to_string()),
    )
}

/// Never returns: must be stopped by the activity's timeout.
pub fn spin_forever(_input: Json) -> Result<Json, Error> {
    let mut x = 1u64;
    loop {
        x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
        if x == 0 {
            return Ok(Json::Null);
        }
    }
}

/// Sleeps `ms` in a WASI host call (no wasm runs meanwhile), then returns `ms`.
pub fn sleep(ms: u64) -> Result<u64, Error> {
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(ms)
}

/// Prints `bytes` bytes to stdout (lines of 100), then returns how many it printed.
pub fn chatty(bytes: usize) -> Result<usize, Error> {
    let line = "y".repeat(99);
    for _ in 0..bytes / 100 {
        println!("{line}");
    }
    Ok(bytes / 100 * 100)
}
