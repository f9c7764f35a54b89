//! The seed app's orchestrations, as one Wasm component.
//!
//! Built for `wasm32-unknown-unknown` and wrapped into a component by `tools/componentize`, so it
//! imports nothing but the host's `context` interface: no clock, randomness, network or files.

use durable_sdk::{Context, Error, Json};

durable_sdk::orchestrations! {
    "orderProcessingOrchestrator" => order_processing,
    "echo" => echo,
}

/// The seed's workflow: validate, reserve, confirm. Reads like the JavaScript generator.
pub fn order_processing(ctx: &Context) -> Result<Json, Error> {
    let input: Json = ctx.input()?;
    let validated: Json = ctx.call_activity("validateOrder", &input)?;
    let inventory: Json = ctx.call_activity("reserveInventory", &validated)?;
    let confirmation: Json = ctx.call_activity("emitConfirmation", &inventory)?;
    Ok(confirmation)
}

/// Completes with its input unchanged.
pub fn echo(ctx: &Context) -> Result<Json, Error> {
    ctx.input()
}
