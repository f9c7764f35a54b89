//! A native `JSON.parse`. boa's own checks the text with serde_json, then parses it again as a
//! JavaScript script, compiles it to bytecode and runs it: in the seed's orchestrator that was
//! about a third of the time (each turn parses its activity's result). This one reads the text
//! once with serde_json straight into JS values, keeping key order and `JSON.parse`'s rules
//! (the last of duplicate keys wins, in the first one's place; `__proto__` is an own property).
//! With a reviver, or on text serde_json refuses, the builtin runs instead (same results, same
//! errors as before).
//!
//! And a native `JSON.stringify` for what apps pass it (task inputs and results, response
//! bodies): plain objects, arrays and primitives, with no replacer or indent. boa's builtin
//! follows the specification's steps generically and cost ~13 µs for a four-key object, more
//! than the rest of an orchestrator turn; this one reads ordinary objects' own data properties
//! directly. Anything else — a `toJSON` method (e.g. on a `Date`), an accessor, a proxy, a
//! boxed primitive, a BigInt, a map or class from the builtins, nesting past 64 levels (a
//! cycle, maybe) — goes to the builtin, so results and errors are the builtin's. (A getter
//! that an abandoned native pass already ran — on an array element, or a `toJSON` accessor on a
//! prototype — runs again in the builtin's.)

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
    let builtin = json
        .get(js_string!("stringify"), ctx)?
        .as_object()
        .ok_or_else(|| boa_engine::JsNativeError::typ().with_message("no JSON.stringify"))?;
    let stringify = NativeFunction::from_copy_closure_with_captures(stringify, builtin);
    let stringify = boa_engine::object::FunctionObjectBuilder::new(ctx.realm(), stringify)
        .name(js_string!("stringify"))
        .length(3)
        .build();
    json.set(js_string!("stringify"), stringify, true, ctx)?;
    Ok(())
}

fn stringify(
    this: &JsValue,
    args: &[JsValue],
    builtin: &JsObject,
    ctx: &mut Context,
) -> JsResult<JsValue> {
    let absent = |i: usize| args.get(i).is_none_or(JsValue::is_undefined);
    if absent(1) && absent(2) {
        let value = args.first().cloned().unwrap_or_default();
        let mut out = String::new();
        match write_value(&value, &mut out, 0, ctx)? {
            Some(true) => return Ok(JsString::from(out.as_str()).into()),
            Some(false) => return Ok(JsValue::undefined()),
            None => {}
        }
    }
    builtin.call(this, args, ctx)
}

/// How deep the native path follows objects before leaving it to the builtin.
const MAX_DEPTH: usize = 64;

/// Writes `value`'s JSON: `Some(true)` written, `Some(false)` it has none (undefined, a
/// function, a symbol: skipped in objects, `null` in arrays), `None` not for the native path.
fn write_value(
    value: &JsValue,
    out: &mut String,
    depth: usize,
    ctx: &mut Context,
) -> JsResult<Option<bool>> {
    use boa_engine::value::JsVariant;
    match value.variant() {
        JsVariant::Undefined | JsVariant::Symbol(_) => Ok(Some(false)),
        JsVariant::Null => Ok(Some(write(out, "null"))),
        JsVariant::Boolean(b) => Ok(Some(write(out, if b { "true" } else { "false" }))),
        JsVariant::Integer32(i) => Ok(Some(write(out, &i.to_string()))),
        JsVariant::Float64(f) if !f.is_finite() => Ok(Some(write(out, "null"))),
        JsVariant::Float64(_) => {
            let text = value.to_string(ctx)?.to_std_string_escaped();
            Ok(Some(write(out, &text)))
        }
        JsVariant::String(s) => {
            quote(&s, out);
            Ok(Some(true))
        }
        JsVariant::BigInt(_) => Ok(None),
        JsVariant::Object(o) => {
            // Exotic objects go to the builtin before anything of theirs is read (a proxy's
            // traps must run once). `toJSON` is looked up first, on functions too.
            let callable = o.is_callable();
            let array = !callable && o.is_array();
            if depth >= MAX_DEPTH || !(callable || array || o.is_ordinary()) {
                return Ok(None);
            }
            if !o.get(js_string!("toJSON"), ctx)?.is_undefined() {
                return Ok(None);
            }
            if callable {
                Ok(Some(false))
            } else if array {
                write_array(&o, out, depth, ctx)
            } else {
                write_object(&o, out, depth, ctx)
            }
        }
    }
}

fn write(out: &mut String, text: &str) -> bool {
    out.push_str(text);
    true
}

fn write_array(
    array: &JsObject,
    out: &mut String,
    depth: usize,
    ctx: &mut Context,
) -> JsResult<Option<bool>> {
    let len = array.get(js_string!("length"), ctx)?.to_length(ctx)?;
    out.push('[');
    for i in 0..len {
        if i > 0 {
            out.push(',');
        }
        let item = array.get(i, ctx)?;
        match write_value(&item, out, depth + 1, ctx)? {
            None => return Ok(None),
            Some(false) => out.push_str("null"),
            Some(true) => {}
        }
    }
    out.push(']');
    Ok(Some(true))
}

fn write_object(
    object: &JsObject,
    out: &mut String,
    depth: usize,
    ctx: &mut Context,
) -> JsResult<Option<bool>> {
    use boa_engine::property::PropertyKey;
    out.push('{');
    let mut first = true;
    for key in object.own_property_keys(ctx)? {
        let name = match &key {
            PropertyKey::String(s) => s.clone(),
            PropertyKey::Index(i) => JsString::from(i.get().to_string().as_str()),
            PropertyKey::Symbol(_) => continue,
        };
        let property = object.borrow().properties().get(&key);
        let Some(property) = property else { continue };
        if property.is_accessor_descriptor() {
            return Ok(None);
        }
        if !property.expect_enumerable() {
            continue;
        }
        let value = property.value().cloned().unwrap_or_default();
        let mark = out.len();
        if !first {
            out.push(',');
        }
        quote(&name, out);
        out.push(':');
        match write_value(&value, out, depth + 1, ctx)? {
            None => return Ok(None),
            Some(false) => out.truncate(mark),
            Some(true) => first = false,
        }
    }
    out.push('}');
    Ok(Some(true))
}

/// `QuoteJSONString`: a JSON string literal of the UTF-16 text, unpaired surrogates escaped.
fn quote(text: &JsString, out: &mut String) {
    use boa_engine::string::CodePoint;
    out.push('"');
    for point in text.code_points() {
        match point {
            CodePoint::Unicode(c) => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            },
            CodePoint::UnpairedSurrogate(u) => out.push_str(&format!("\\u{u:04x}")),
        }
    }
    out.push('"');
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
