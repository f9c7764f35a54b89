// durable-wasm JavaScript runtime: the Node.js v4 programming model a Durable Functions app uses.
// Evaluated once per role before the app's own file; `__host` holds the role's native functions.
"use strict";
(function (g) {
  const host = g.__host;
  const registry = { http: new Map(), orchestrations: new Map(), activities: new Map() };

  const toJson = (value) => (value === undefined ? "null" : JSON.stringify(value));
  const fromJson = (text) => (text === undefined || text === null ? undefined : JSON.parse(text));
  const show = (value) => {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack || String(value);
    try {
      return JSON.stringify(value);
    } catch (_) {
      return String(value);
    }
  };
  const line = (args) => args.map(show).join(" ");

  // console: to the host's log (tagged there with the instance and task).
  const LEVELS = { trace: 0, debug: 1, info: 2, log: 2, warn: 3, error: 4 };
  g.console = {};
  for (const [name, level] of Object.entries(LEVELS)) {
    g.console[name] = (...args) => host.log(level, line(args));
  }

  function register(map, kind, name, value) {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`${kind} name must be a non-empty string`);
    }
    if (map.has(name)) {
      throw new Error(`${kind} "${name}" is registered twice`);
    }
    map.set(name, value);
  }

  function handlerOf(kind, name, options) {
    const handler = typeof options === "function" ? options : options && options.handler;
    if (typeof handler !== "function") {
      throw new TypeError(`${kind} "${name}" needs a handler function`);
    }
    return handler;
  }

  // Time comes from the host where the role has a clock of the host's (`host.now`): in an
  // orchestrator the turn's time from the history (replay-safe), in HTTP functions the host's
  // wall clock. The engine's own clock reads the epoch in those roles, so every way of asking
  // for "now" (Date.now(), new Date(), Date()) goes through here.
  if (typeof host.now === "function") {
    const EngineDate = Date;
    const now = host.now;
    const DurableDate = function Date(...args) {
      if (new.target === undefined) return new EngineDate(now()).toString();
      return Reflect.construct(EngineDate, args.length === 0 ? [now()] : args, new.target);
    };
    // The builtin's shape: statics writable, configurable, not enumerable.
    const method = (value) => ({ value, writable: true, configurable: true });
    Object.defineProperties(DurableDate, {
      length: { value: 7 },
      prototype: { value: EngineDate.prototype, writable: false },
      now: method({ now: () => now() }.now),
      parse: method(EngineDate.parse),
      UTC: method(EngineDate.UTC),
    });
    Object.defineProperty(EngineDate.prototype, "constructor", {
      value: DurableDate,
      writable: true,
      configurable: true,
    });
    g.Date = DurableDate;
  }

  // Timers and the network are not the orchestrator's (nor, yet, any role's) to use.
  const refuse = (what, instead) =>
    function () {
      throw new Error(`${what} is not available in durable-wasm: ${instead}`);
    };
  g.setTimeout = refuse("setTimeout", "in an orchestrator use context.df.createTimer (a durable timer)");
  g.setInterval = refuse("setInterval", "in an orchestrator use context.df.createTimer (a durable timer)");
  g.setImmediate = refuse("setImmediate", "use await or a durable timer");
  g.fetch = refuse("fetch", "orchestrators must not do I/O: call an activity");

  class InvocationContext {
    constructor(functionName, invocationId, extra) {
      this.functionName = functionName;
      this.invocationId = invocationId;
      this.extraInputs = { get: () => undefined, set: () => undefined };
      this.extraOutputs = { get: () => undefined, set: () => undefined };
      this.options = {};
      this.triggerMetadata = {};
      Object.assign(this, extra || {});
    }
    log(...args) {
      host.log(2, line(args));
    }
    trace(...args) {
      host.log(0, line(args));
    }
    debug(...args) {
      host.log(1, line(args));
    }
    info(...args) {
      host.log(2, line(args));
    }
    warn(...args) {
      host.log(3, line(args));
    }
    error(...args) {
      host.log(4, line(args));
    }
  }

  class HttpResponse {
    constructor(init) {
      init = init || {};
      this.status = init.status === undefined ? 200 : init.status;
      this.headers = init.headers || {};
      this.jsonBody = init.jsonBody;
      this.body = init.body;
      this.cookies = init.cookies || [];
    }
  }

  const functionsApp = {
    http(name, options) {
      const handler = handlerOf("app.http", name, options);
      const methods = (options.methods || []).map((m) => String(m).toUpperCase());
      const route = options.route === undefined ? name : String(options.route);
      const authLevel = String(options.authLevel || "anonymous");
      register(registry.http, "app.http", name, { handler, route, methods, authLevel });
    },
    get(name, options) {
      functionsApp.http(name, withMethods(options, ["GET"]));
    },
    post(name, options) {
      functionsApp.http(name, withMethods(options, ["POST"]));
    },
    put(name, options) {
      functionsApp.http(name, withMethods(options, ["PUT"]));
    },
    deleteRequest(name, options) {
      functionsApp.http(name, withMethods(options, ["DELETE"]));
    },
    patch(name, options) {
      functionsApp.http(name, withMethods(options, ["PATCH"]));
    },
    setup() {},
  };
  const withMethods = (options, methods) =>
    typeof options === "function" ? { handler: options, methods } : { ...options, methods };

  const azureFunctions = {
    app: functionsApp,
    HttpResponse,
    InvocationContext,
    input: { generic: (o) => ({ type: "generic", ...o }) },
    output: { generic: (o) => ({ type: "generic", ...o }) },
    trigger: { generic: (o) => ({ type: "generic", ...o }) },
  };

  const df = {
    app: {
      orchestration(name, options) {
        register(registry.orchestrations, "df.app.orchestration", name, handlerOf("df.app.orchestration", name, options));
      },
      activity(name, options) {
        register(registry.activities, "df.app.activity", name, handlerOf("df.app.activity", name, options));
      },
      entity(name) {
        throw new Error(`df.app.entity("${name}"): durable entities are not supported yet`);
      },
    },
    input: { durableClient: () => ({ type: "durableClient", name: "durableClient" }) },
    trigger: {
      orchestration: () => ({ type: "orchestrationTrigger" }),
      activity: () => ({ type: "activityTrigger" }),
    },
    OrchestrationRuntimeStatus: {
      Running: "Running",
      Completed: "Completed",
      ContinuedAsNew: "ContinuedAsNew",
      Failed: "Failed",
      Canceled: "Canceled",
      Terminated: "Terminated",
      Pending: "Pending",
      Suspended: "Suspended",
    },
  };

  const modules = { "@azure/functions": azureFunctions, "durable-functions": df };
  g.require = function require(name) {
    if (Object.prototype.hasOwnProperty.call(modules, name)) return modules[name];
    throw new Error(
      `require("${name}"): module not available in durable-wasm, which provides only ` +
        `"@azure/functions" and "durable-functions" (bundle other code into the app's file)`,
    );
  };
  g.module = { exports: {} };
  g.exports = g.module.exports;

  // For the role scripts evaluated after this one.
  g.__durable = { host, registry, df, toJson, fromJson, show, HttpResponse, InvocationContext };
  delete g.__host;
})(globalThis);
