//! `componentize IN.wasm OUT.wasm`: wraps a core wasm module produced with wit-bindgen (which
//! embeds its world's type information) into a WebAssembly component, validating the result.
//! Replaces `wasm-tools component new` so building guests needs nothing outside this workspace.

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        bail!("usage: componentize IN.wasm OUT.wasm");
    };
    let core = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&core)
        .with_context(|| {
            format!("{input}: not a core module with embedded component type information")
        })?
        .encode()
        .with_context(|| format!("{input}: encoding the component failed"))?;
    std::fs::write(output, &component).with_context(|| format!("writing {output}"))?;
    eprintln!(
        "componentize: {input} ({} bytes) -> {output} ({} bytes)",
        core.len(),
        component.len()
    );
    Ok(())
}
