//! A native `JSON.parse`. boa's own checks the text with serde_json, then parses it again as a
//! JavaScript script, compiles it to bytecode and runs it: in the seed's orchestrator that was
//! about a third of the time (each turn parses its activity's result). This one reads the text
//! once with serde_json straight into JS values, keeping key order and `JSON.parse`'s rules
//! (the last of duplicate keys wins, in the first one's place; `__proto__` is an own property).
//! With a reviver, or on text serde_json refuses, the builtin runs instead (same results, same
//! errors as before).

use std::fmt;

use boa_engine::object::builtins::JsArray;
use boa_engine::{Context, JsObject, JsResult, JsString, JsValue, NativeFunction, js_string};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Replaces `JSON.parse` in `ctx` (the builtin stays reachable for the cases above).
pub fn install(ctx: &mut Context) -> JsResult<()> {
    let json = ctx
        .global_object()
        .get(js_string!("JSON"), ctx)?
        .as_object()
        .ok_or_else(|| boa_engine::JsNativeError::typ().with_message("no JSON object"))?;
    let builtin = json
        .get(js_string!("parse"), ctx)?
        .as_object()
        .ok_or_else(|| boa_engine::JsNativeError::typ().with_message("no JSON.parse"))?;
    let parse = NativeFunction::from_copy_closure_with_captures(parse, builtin);
    let parse = boa_engine::object::FunctionObjectBuilder::new(ctx.realm(), parse)
        .name(js_string!("parse"))
        .length(2)
        .build();
    json.set(js_string!("parse"), parse, true, ctx)?;
    Ok(())
}

fn parse(
    this: &JsValue,
    args: &[JsValue],
    builtin: &JsObject,
    ctx: &mut Context,
) -> JsResult<JsValue> {
    let reviver = args.get(1).is_some_and(JsValue::is_callable);
    let text = args.first().and_then(JsValue::as_string);
    if !reviver && let Some(Ok(text)) = text.map(|t| t.to_std_string()) {
        let mut reader = serde_json::Deserializer::from_str(&text);
        if let Ok(value) = Seed(ctx).deserialize(&mut reader)
            && reader.end().is_ok()
        {
            return Ok(value);
        }
    }
    builtin.call(this, args, ctx)
}

/// Builds the JS value of the JSON it reads.
struct Seed<'a>(&'a mut Context);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = JsValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JsValue, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<JsValue, E> {
        Ok(JsValue::from(v as f64))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsValue, E> {
        Ok(JsValue::from(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<JsValue, E> {
        Ok(JsValue::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<JsValue, E> {
        Ok(JsString::from(v).into())
    }

    fn visit_unit<E>(self) -> Result<JsValue, E> {
        Ok(JsValue::null())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed(&mut *self.0))? {
            items.push(item);
        }
        Ok(JsArray::from_iter(items, self.0).into())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let object = JsObject::with_object_proto(self.0.intrinsics());
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let value = map.next_value_seed(Seed(&mut *self.0))?;
            object
                .create_data_property_or_throw(JsString::from(key.as_ref()), value, self.0)
                .map_err(|e| de::Error::custom(e.to_string()))?;
        }
        Ok(object.into())
    }
}
