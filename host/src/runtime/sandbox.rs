//! Structural determinism: the list of imports an orchestrator may have, and friendly refusals.

/// Interfaces an orchestrator may import (any version of our own package).
const ALLOWED_PREFIXES: &[&str] = &["durable:engine/context@", "durable:engine/types@"];

/// Checks an orchestrator's imports; on refusal the message names each offending import and
/// what to use instead.
pub fn check_orchestrator_imports(imports: &[String]) -> Result<(), String> {
    let bad: Vec<&String> = imports
        .iter()
        .filter(|name| !ALLOWED_PREFIXES.iter().any(|p| name.starts_with(p)))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut message = String::from(
        "orchestrator refused: it imports interfaces an orchestrator may not use \
         (orchestrators must be deterministic, so their only import is durable:engine/context):",
    );
    for name in bad {
        message.push_str(&format!("\n  - {name}: {}", advice(name)));
    }
    message.push_str(
        "\nBuild orchestrators for wasm32-unknown-unknown with durable-sdk (feature \"orchestrator\") \
         and wrap them with tools/componentize; wasm32-wasip2 builds import WASI.",
    );
    Err(message)
}

fn advice(import: &str) -> &'static str {
    let iface = import.split('@').next().unwrap_or(import);
    match iface {
        "wasi:clocks/wall-clock" | "wasi:clocks/monotonic-clock" => {
            "orchestrators have no clock; use ctx.current_time_ms() (replay-safe) or ctx.create_timer()"
        }
        "wasi:random/random" | "wasi:random/insecure" | "wasi:random/insecure-seed" => {
            "orchestrators have no randomness; use ctx.new_guid() (replay-safe) or do it in an activity"
        }
        "wasi:filesystem/types" | "wasi:filesystem/preopens" => {
            "orchestrators cannot touch files; read or write them in an activity (ctx.call_activity)"
        }
        "wasi:cli/environment" => {
            "orchestrators have no environment; pass settings in the orchestration input"
        }
        "wasi:cli/stdout" | "wasi:cli/stderr" | "wasi:cli/stdin" => {
            "orchestrators have no stdio; use ctx.log(), which is not repeated on replay"
        }
        "wasi:cli/exit" => "return an Err from the orchestration function instead of exiting",
        _ if iface.starts_with("wasi:sockets/") || iface.starts_with("wasi:http/") => {
            "orchestrators have no network; call the service from an activity (ctx.call_activity)"
        }
        _ if iface.starts_with("wasi:") => {
            "WASI is not available to orchestrators; move this work into an activity"
        }
        _ => "not provided to orchestrators; only durable:engine/context is",
    }
}

/// Compiles a component and lists what it imports; `what` names it in the error.
pub fn compile_with_imports(
    engine: &wasmtime::Engine,
    what: &str,
    bytes: &[u8],
) -> Result<(wasmtime::component::Component, Vec<String>), super::LoadError> {
    let component = wasmtime::component::Component::new(engine, bytes).map_err(|e| {
        super::LoadError::Invalid {
            what: what.to_owned(),
            reason: format!("{e:#}"),
        }
    })?;
    let imports = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    Ok((component, imports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_context_is_allowed_and_wasi_is_refused_by_name() {
        assert!(check_orchestrator_imports(&["durable:engine/context@0.1.0".into()]).is_ok());
        let err = check_orchestrator_imports(&[
            "durable:engine/context@0.1.0".into(),
            "wasi:clocks/wall-clock@0.2.6".into(),
            "wasi:random/random@0.2.6".into(),
        ])
        .unwrap_err();
        assert!(
            err.contains("wasi:clocks/wall-clock@0.2.6: orchestrators have no clock"),
            "{err}"
        );
        assert!(err.contains("wasi:random/random@0.2.6"), "{err}");
        assert!(!err.contains("  - durable:engine/context"), "{err}");
    }
}
