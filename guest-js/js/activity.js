// durable-wasm JavaScript runtime, activity role: runs `df.app.activity` handlers, which may
// return a value or a promise.
"use strict";
(function (g) {
  const { registry, toJson, fromJson, InvocationContext } = g.__durable;

  g.__names = () => [...registry.activities.keys()];
  g.__start = (name, input) => {
    const handler = registry.activities.get(name);
    if (!handler) throw new Error(`this app has no activity named "${name}"`);
    const context = new InvocationContext(name, "", {});
    return Promise.resolve()
      .then(() => handler(fromJson(input), context))
      .then(toJson);
  };
})(globalThis);
