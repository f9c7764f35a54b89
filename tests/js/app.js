// A Durable Functions Node.js v4 app exercising the programming model durable-wasm provides
// (tests/tests/js.rs drives it through the real host).
const { app } = require("@azure/functions");
const df = require("durable-functions");

// An HTTP function that is code, not a pattern: it validates, branches and answers itself.
app.http("startByName", {
  methods: ["POST"],
  route: "start/{name}",
  authLevel: "anonymous",
  extraInputs: [df.input.durableClient()],
  handler: async (request, context) => {
    const client = df.getClient(context);
    const name = request.params.name;
    if (name === "nothing") {
      return { status: 400, jsonBody: { error: `there is no ${name}` } };
    }
    const text = await request.text();
    const input = text ? JSON.parse(text) : undefined;
    const instanceId = request.query.get("id") || undefined;
    const id = await client.startNew(name, { input, instanceId });
    context.log(`started ${name}`, { id });
    if (request.query.get("wait")) {
      return client.waitForCompletionOrCreateCheckStatusResponse(request, id, { timeoutInMilliseconds: 10000 });
    }
    return client.createCheckStatusResponse(request, id);
  },
});

app.http("spin", {
  methods: ["GET"],
  route: "spin",
  authLevel: "anonymous",
  handler: () => {
    for (;;);
  },
});

app.http("manage", {
  methods: ["GET", "POST"],
  route: "manage/{op}/{id}",
  authLevel: "function",
  extraInputs: [df.input.durableClient()],
  handler: async (request, context) => {
    const client = df.getClient(context);
    const { op, id } = request.params;
    if (op === "status") {
      const status = await client.getStatus(id);
      return status ? { jsonBody: status } : { status: 404, body: "unknown" };
    }
    if (op === "raise") {
      await client.raiseEvent(id, request.query.get("event"), await request.json());
      return { status: 202 };
    }
    if (op === "terminate") {
      await client.terminate(id, "stopped by the manage function");
      return { status: 202 };
    }
    throw new Error(`unknown operation ${op}`);
  },
});

df.app.orchestration("fanOut", function* (context) {
  const items = context.df.getInput();
  const results = yield context.df.Task.all(items.map((i) => context.df.callActivity("double", i)));
  return results.reduce((a, b) => a + b, 0);
});

df.app.orchestration("approval", function* (context) {
  const deadline = new Date(context.df.currentUtcDateTime.getTime() + 60 * 60 * 1000);
  const timer = context.df.createTimer(deadline);
  const answer = context.df.waitForExternalEvent("approve");
  context.df.setCustomStatus({ waiting: true });
  const winner = yield context.df.Task.any([answer, timer]);
  if (winner === answer) {
    timer.cancel();
    return { approved: answer.result };
  }
  return { approved: false, timedOut: true };
});

df.app.orchestration("catcher", function* (context) {
  try {
    yield context.df.callActivity("boom", "x");
    return "not reached";
  } catch (e) {
    return { caught: e.message };
  }
});

df.app.orchestration("retrying", function* (context) {
  const options = new df.RetryOptions(1000, 3);
  options.backoffCoefficient = 2;
  return yield context.df.callActivityWithRetry("boom", options, "again");
});

df.app.orchestration("parent", function* (context) {
  const child = yield context.df.callSubOrchestrator("child", { n: 21 }, `${context.df.instanceId}-child`);
  return { child, parent: context.df.parentInstanceId === undefined };
});

df.app.orchestration("child", function* (context) {
  const doubled = yield context.df.callActivity("double", context.df.getInput().n);
  return { doubled, parentInstanceId: context.df.parentInstanceId };
});

df.app.orchestration("counter", function* (context) {
  const n = context.df.getInput() || 0;
  if (n < 3) {
    context.df.continueAsNew(n + 1);
    return;
  }
  return n;
});

// Replay-safe sources: the same on every replay (tests compare them across a kill -9).
function* replaySafe(context) {
  const values = {
    random: Math.random(),
    bytes: Array.from(crypto.getRandomValues(new Uint32Array(2))),
    now: Date.now(),
    date: new Date().toISOString(),
    // Every way of asking for "now" reads the turn's time.
    sameNow: Date() === new Date(Date.now()).toString() && new Date().getTime() === Date.now(),
    current: context.df.currentUtcDateTime.getTime(),
    guid: context.df.newGuid(),
  };
  const echoed = yield context.df.callActivity("echo", values);
  const go = yield context.df.waitForExternalEvent("go");
  return { values, echoed, go, replaying: context.df.isReplaying };
}
df.app.orchestration("replaySafe", replaySafe);

// What is not replay-safe throws, naming the Durable Functions way.
df.app.orchestration("forbidden", function* () {
  const messages = [];
  for (const attempt of [() => setTimeout(() => 0, 10), () => fetch("http://example.com"), () => setInterval(() => 0, 5)]) {
    try {
      attempt();
      messages.push("allowed");
    } catch (e) {
      messages.push(e.message);
    }
  }
  return messages;
});

df.app.orchestration("spin", function* () {
  let n = 0;
  for (;;) n++;
});

df.app.orchestration("thrower", function* () {
  yield* [];
  null.property;
});

// Date keeps the builtin's shape where the host's clock replaces it.
df.app.orchestration("dateShape", function* () {
  yield* [];
  class Stamp extends Date {}
  const s = new Stamp(0);
  return {
    length: Date.length,
    name: Date.name,
    keys: Object.keys(Date),
    instance: new Date() instanceof Date,
    ctor: new Date().constructor === Date,
    sub: s instanceof Stamp && s instanceof Date && s.getTime() === 0,
    parsed: Date.parse("2020-01-01T00:00:00Z"),
    utc: Date.UTC(2020, 0, 1),
    nowName: Date.now.name,
  };
});

// A thrown object that is not an Error is reported by its name and message.
df.app.orchestration("throwsObject", function* () {
  yield* [];
  throw { name: "Custom", message: "custom failure" };
});

// Deep recursion: a catchable RangeError in the orchestrator (as in Node); in an activity the
// sandbox's stack-overflow trap, which fails the call with a message.
function deeper(n) {
  return deeper(n + 1) + 1;
}
df.app.orchestration("deepRecursion", function* (context) {
  let caught;
  try {
    deeper(0);
  } catch (e) {
    caught = `${e.name}: ${e.message}`;
  }
  let activity;
  try {
    yield context.df.callActivity("deeper", null);
  } catch (e) {
    activity = e.message;
  }
  return { caught, activity };
});
df.app.activity("deeper", { handler: () => deeper(0) });

df.app.orchestration("needsAxios", function* () {
  require("axios");
});

df.app.activity("double", { handler: (n) => n * 2 });
df.app.activity("echo", { handler: async (v) => v });
df.app.activity("boom", {
  handler: (input) => {
    throw new Error(`kaboom ${input}`);
  },
});
df.app.activity("stamp", {
  handler: (input, context) => {
    console.warn(`stamping for ${input}`);
    return { utc: new Date().toISOString(), name: context.functionName };
  },
});
// Module state lives as long as the instance: calls share one as in Node (reuse_instances).
let counted = 0;
df.app.activity("counted", { handler: () => ++counted });
df.app.orchestration("countThrice", function* (context) {
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push(yield context.df.callActivity("counted"));
  return seen;
});
// JSON.parse and JSON.stringify: the language's rules hold.
df.app.orchestration("jsonRules", function* () {
  yield* [];
  const o = JSON.parse('{"b":1,"a":2,"b":3,"__proto__":{"x":1}}');
  let error = null;
  try {
    JSON.parse("{bad");
  } catch (e) {
    error = e.name;
  }
  return {
    keys: Object.keys(o),
    b: o.b,
    ownProto: Object.prototype.hasOwnProperty.call(o, "__proto__"),
    revived: JSON.parse("[1,2]", (k, v) => (typeof v === "number" ? v * 10 : v)),
    nested: JSON.parse('{"x":[true,null,"s\\u00e9",1.5,-2,100000000000000000000]}'),
    error,
    stringified: [
      JSON.stringify({ b: 1, a: [1, undefined, () => 1], 2: "two", 1: "one", u: undefined, f() {}, [Symbol("s")]: 1 }),
      JSON.stringify({ d: new Date(0), n: [NaN, -0, 1.5, 1e21, Infinity] }),
      JSON.stringify("q\"\\\n\u0001\ud800\u00e9"),
      JSON.stringify({ get g() { return 7; }, nested: { toJSON: () => "tj" } }),
      JSON.stringify([new Map([[1, 2]]), Object.create({ inherited: 1 }), new (class K { constructor() { this.k = 1; } })()]),
      JSON.stringify(undefined) === undefined,
      JSON.stringify({ a: 1 }, null, 2),
      JSON.stringify({ a: 1, b: 2 }, ["b"]),
      (() => { const c = {}; c.self = c; try { JSON.stringify(c); return "no error"; } catch (e) { return e.name; } })(),
      JSON.stringify({ f: Object.assign(() => 1, { toJSON: () => "fn" }), g: () => 1, k: 1 }),
    ],
  };
});
// Orchestration versioning: the instance's version, as Durable Functions' context has it.
df.app.orchestration("versioned", function* (context) {
  return { version: context.df.version };
});
df.app.orchestration("stamped", function* (context) {
  return yield context.df.callActivity("stamp", context.df.instanceId);
});

// The approval workflow the official clients' scripts drive (as the Rust seed component has it).
df.app.orchestration("approvalWorkflow", function* (context) {
  const input = context.df.getInput() || {};
  const timeoutMs = input.timeoutMs || 24 * 60 * 60 * 1000;
  context.df.setCustomStatus("waiting for approval");
  const approval = context.df.waitForExternalEvent("Approval");
  const deadline = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + timeoutMs));
  const winner = yield context.df.Task.any([approval, deadline]);
  if (winner === approval) {
    context.df.setCustomStatus("approved");
    return approval.result;
  }
  context.df.setCustomStatus("timed out");
  throw new Error(`approval timed out after ${timeoutMs} ms`);
});
