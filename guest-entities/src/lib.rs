//! The seed app's durable entities: the classic `Counter` of Durable Functions' samples
//! (`add`, `reset`, `get`, `delete`). With feature `probe`, also `Probe`, which the end-to-end
//! tests drive to fail, trap, signal other entities and start orchestrations.

use durable_sdk::{EntityContext, Error, Json};

#[cfg(not(feature = "probe"))]
durable_sdk::entities! {
    "Counter" => counter,
}

#[cfg(feature = "probe")]
durable_sdk::entities! {
    "Counter" => counter,
    "Probe" => probe,
}

/// A number: `add` (input: the amount), `reset`, `get`, `delete`. Returns the value after the
/// operation.
pub fn counter(ctx: &mut EntityContext) -> Result<i64, Error> {
    let value: i64 = ctx.state_or(|| 0)?;
    let value = match ctx.operation() {
        "add" => {
            let amount = amount(ctx.input()?)?;
            let sum = value
                .checked_add(amount)
                .ok_or_else(|| Error::new(format!("{value} + {amount} overflows")))?;
            ctx.set_state(&sum)?;
            sum
        }
        "reset" => {
            ctx.set_state(&0)?;
            0
        }
        "get" => value,
        "delete" => {
            ctx.delete_state();
            0
        }
        other => {
            return Err(Error::new(format!(
                "Counter has no operation '{other}' (it has add, reset, get, delete)"
            )));
        }
    };
    Ok(value)
}

/// `add`'s amount: a number, or a string holding one (Durable Functions' Python client sends
/// its input JSON-encoded a second time, so `5` arrives as `"5"`).
fn amount(input: Json) -> Result<i64, Error> {
    let parsed = match &input {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| Error::new(format!("add takes a whole number, not {input}")))
}

/// The tests' entity. State: any JSON. Operations: `set` (state := input, returns the old
/// state), `get`, `fail` (fails after setting the state, which must not stick), `trap` (panics
/// after setting it), `spin` (loops until out of fuel), `signal` (input `{"name","key","op",
/// "input"}`: signals that entity), `start` (input `{"name","id","input"}`: starts that
/// orchestration).
#[cfg(feature = "probe")]
pub fn probe(ctx: &mut EntityContext) -> Result<Json, Error> {
    let old: Json = ctx.state_or(|| Json::Null)?;
    match ctx.operation() {
        "set" => {
            let new: Json = ctx.input()?;
            ctx.set_state(&new)?;
            Ok(old)
        }
        "get" => Ok(old),
        "fail" => {
            ctx.set_state("changed by a failed operation")?;
            Err(Error::new("the probe was asked to fail"))
        }
        "trap" => {
            ctx.set_state("changed by a trapped operation")?;
            panic!("the probe was asked to trap")
        }
        "spin" => spin(),
        "signal" => {
            let to: Json = ctx.input()?;
            let field = |k: &str| to[k].as_str().unwrap_or_default().to_owned();
            let target = durable_sdk::EntityId::new(field("name"), field("key"));
            ctx.signal_entity(&target, &field("op"), &to["input"])?;
            Ok(old)
        }
        "start" => {
            let start: Json = ctx.input()?;
            let name = start["name"].as_str().unwrap_or_default().to_owned();
            let id = start["id"].as_str().map(str::to_owned);
            ctx.start_new_orchestration(&name, id.as_deref(), &start["input"])?;
            Ok(old)
        }
        other => Err(Error::new(format!("Probe has no operation '{other}'"))),
    }
}

#[cfg(feature = "probe")]
fn spin() -> Result<Json, Error> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_sdk::EntityId;

    fn run(
        op: &str,
        input: Option<&str>,
        state: Option<&str>,
    ) -> Result<(Option<String>, String), Error> {
        let id = EntityId::new("counter", "k");
        let mut ctx =
            EntityContext::new(id, op, input.map(str::to_owned), state.map(str::to_owned));
        let out = counter(&mut ctx);
        ctx.finish(out).map(|e| (e.state, e.output))
    }

    #[test]
    fn the_counter_adds_resets_and_reads() {
        assert_eq!(
            run("add", Some("5"), None).unwrap(),
            (Some("5".into()), "5".into())
        );
        assert_eq!(
            run("add", Some("\"3\""), Some("5")).unwrap(),
            (Some("8".into()), "8".into())
        );
        assert_eq!(
            run("get", None, Some("8")).unwrap(),
            (Some("8".into()), "8".into())
        );
        assert_eq!(
            run("reset", None, Some("8")).unwrap(),
            (Some("0".into()), "0".into())
        );
        assert_eq!(run("delete", None, Some("8")).unwrap(), (None, "0".into()));
        let bad = run("add", Some("\"x\""), Some("1")).unwrap_err();
        assert_eq!(bad.message, "add takes a whole number, not \"x\"");
        let unknown = run("mul", Some("2"), Some("1")).unwrap_err();
        assert!(unknown.message.contains("no operation 'mul'"));
    }
}
