//! The seed app's activities, as one Wasm component built for `wasm32-wasip2`.
//!
//! Behaviour matches the Node.js recipe exactly; activities may read the clock.

use durable_sdk::{Error, Json};
use serde_json::json;

durable_sdk::activities! {
    "validateOrder" => validate_order,
    "reserveInventory" => reserve_inventory,
    "emitConfirmation" => emit_confirmation,
    "sayHello" => say_hello,
    "square" => square,
    "checkStatus" => check_status,
    "alwaysFails" => always_fails,
}

/// `"Hello <name>!"` (the helloSequence example).
pub fn say_hello(name: String) -> Result<String, Error> {
    Ok(format!("Hello {name}!"))
}

/// `n * n` (the fanOutFanIn example).
pub fn square(n: u64) -> Result<u64, Error> {
    n.checked_mul(n)
        .ok_or_else(|| Error::new(format!("{n} squared overflows")))
}

/// Reports `done` once `round >= target` (the monitor example).
pub fn check_status(state: Json) -> Result<Json, Error> {
    let round = state["round"].as_u64().unwrap_or(0);
    let target = state["target"].as_u64().unwrap_or(0);
    Ok(json!({"done": round >= target}))
}

/// Always fails (for retry examples and tests).
pub fn always_fails(_input: Json) -> Result<Json, Error> {
    Err(Error::new("this activity always fails"))
}

/// Fails unless `orderId` and `customerId` are present (and truthy, as the JavaScript checks);
/// otherwise returns the order with `validatedUtc` added.
pub fn validate_order(order: Json) -> Result<Json, Error> {
    if !truthy(order.get("orderId")) || !truthy(order.get("customerId")) {
        return Err(Error::new("orderId and customerId are required."));
    }
    let mut order = order;
    order["validatedUtc"] = Json::String(now_iso8601());
    Ok(order)
}

/// Adds `inventoryReservationId = "<orderId>-inv"` (`"-inv-v2"` in the v2 build).
pub fn reserve_inventory(order: Json) -> Result<Json, Error> {
    let mut order = order;
    let suffix = if cfg!(feature = "v2") {
        "-inv-v2"
    } else {
        "-inv"
    };
    let id = format!("{}{suffix}", js_string(order.get("orderId")));
    match order.as_object_mut() {
        Some(map) => {
            map.insert("inventoryReservationId".into(), Json::String(id));
            Ok(order)
        }
        None => Err(Error::new("reserveInventory expects an order object")),
    }
}

/// Returns `{orderId, reservationId, status: "Confirmed"}`.
pub fn emit_confirmation(order: Json) -> Result<Json, Error> {
    Ok(json!({
        "orderId": order.get("orderId").cloned().unwrap_or(Json::Null),
        "reservationId": order.get("inventoryReservationId").cloned().unwrap_or(Json::Null),
        "status": "Confirmed",
    }))
}

/// JavaScript truthiness of an optional JSON value.
fn truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(_)) | Some(Json::Object(_)) => true,
    }
}

/// How JavaScript renders a value inside a template string (`${order.orderId}`).
fn js_string(v: Option<&Json>) -> String {
    match v {
        None => "undefined".into(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `new Date().toISOString()`: UTC with milliseconds, e.g. `2026-11-26T13:45:12.345Z`.
fn now_iso8601() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_requires_both_ids() {
        let err = validate_order(json!({"orderId": "A1"})).unwrap_err();
        assert_eq!(err.message, "orderId and customerId are required.");
        assert!(validate_order(json!({"orderId": "", "customerId": "c"})).is_err());
        let ok = validate_order(json!({"orderId": "A1", "customerId": "c", "qty": 2})).unwrap();
        assert_eq!(ok["qty"], 2);
        assert!(ok["validatedUtc"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn reserve_and_confirm_follow_the_seed() {
        let reserved = reserve_inventory(json!({"orderId": "A1"})).unwrap();
        assert_eq!(reserved["inventoryReservationId"], "A1-inv");
        let numeric = reserve_inventory(json!({"orderId": 42})).unwrap();
        assert_eq!(numeric["inventoryReservationId"], "42-inv");
        let confirmed = emit_confirmation(reserved).unwrap();
        assert_eq!(
            confirmed,
            json!({"orderId": "A1", "reservationId": "A1-inv", "status": "Confirmed"})
        );
    }
}
