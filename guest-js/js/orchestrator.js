// durable-wasm JavaScript runtime, orchestrator role: Durable Functions' orchestration context
// and tasks over the host's `context` import. Work is scheduled when its task is first yielded
// (as in Durable Functions), so task ids follow yield order and are the same on every replay.
"use strict";
(function (g) {
  const { host, registry, df, toJson, fromJson } = g.__durable;

  // Replay-safe sources of randomness: a PRNG seeded from the execution's first deterministic
  // GUID, so values differ per instance and are identical on every replay.
  let seed;
  function nextRandom() {
    if (seed === undefined) {
      seed = 0;
      for (const ch of host.newGuid()) seed = (Math.imul(seed, 31) + ch.charCodeAt(0)) | 0;
    }
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  Math.random = nextRandom;
  g.crypto = {
    getRandomValues(array) {
      for (let i = 0; i < array.length; i++) array[i] = Math.floor(nextRandom() * 4294967296);
      return array;
    },
    randomUUID: () => host.newGuid(),
  };

  class Task {
    constructor() {
      this.isCompleted = false;
      this.isFaulted = false;
      this.result = undefined;
    }
    get _done() {
      return this.isCompleted || this.isFaulted;
    }
    _complete(value) {
      this.isCompleted = true;
      this.result = value;
    }
    _fail(error) {
      this.isFaulted = true;
      this.result = error;
    }
  }

  // One piece of work the host schedules and completes.
  class AtomicTask extends Task {
    constructor(start, decode) {
      super();
      this._start = start;
      this._decode = decode || fromJson;
      this._id = undefined;
    }
    _schedule() {
      if (this._id === undefined) this._id = this._start();
    }
    _pending(out) {
      if (!this._done) out.push(this);
    }
    _refresh() {}
    // Indexing, not destructuring: array destructuring goes through the iterator protocol.
    _settle(outcome) {
      if (outcome[0]) {
        this._complete(this._decode(outcome[1]));
      } else {
        const error = new Error(outcome[1]);
        error.details = outcome[2];
        this._fail(error);
      }
    }
  }

  // The tasks made on every turn are object literals on the class's prototype (instanceof and
  // methods as with `new`), cheaper than a constructor chain through super().
  const atomicTask = (start, decode) => ({
    __proto__: AtomicTask.prototype,
    isCompleted: false,
    isFaulted: false,
    result: undefined,
    _start: start,
    _decode: decode || fromJson,
    _id: undefined,
  });

  class TimerTask extends AtomicTask {
    constructor(fireAt) {
      super(() => host.createTimer(fireAt), () => undefined);
      this.isCancelled = false;
    }
    cancel() {
      if (this._done) throw new Error("cannot cancel a timer that has already fired");
      this.isCancelled = true;
    }
    _pending(out) {
      if (!this.isCancelled) super._pending(out);
    }
  }

  class CompositeTask extends Task {
    constructor(children, kind) {
      super();
      if (!Array.isArray(children)) throw new TypeError(`${kind} takes an array of tasks`);
      for (const child of children) {
        if (!(child instanceof Task)) throw new TypeError(`${kind} takes tasks only`);
      }
      this.children = children;
    }
    _schedule() {
      for (const child of this.children) schedule(child);
    }
    _pending(out) {
      if (!this._done) for (const child of this.children) child._pending(out);
    }
  }

  class WhenAllTask extends CompositeTask {
    constructor(children) {
      super(children, "Task.all");
    }
    _refresh() {
      for (const child of this.children) {
        child._refresh();
        if (child.isFaulted) return this._fail(child.result);
      }
      if (this.children.every((c) => c.isCompleted)) this._complete(this.children.map((c) => c.result));
    }
  }

  class WhenAnyTask extends CompositeTask {
    constructor(children) {
      super(children, "Task.any");
      if (children.length === 0) throw new TypeError("Task.any needs at least one task");
    }
    _refresh() {
      for (const child of this.children) {
        child._refresh();
        if (child._done) return this._complete(child);
      }
    }
  }

  // Durable Functions' RetryOptions: every attempt and every delay is a task in the history.
  class RetryOptions {
    constructor(firstRetryIntervalInMilliseconds, maxNumberOfAttempts) {
      if (!(firstRetryIntervalInMilliseconds > 0)) {
        throw new RangeError("firstRetryIntervalInMilliseconds must be greater than 0");
      }
      this.firstRetryIntervalInMilliseconds = firstRetryIntervalInMilliseconds;
      this.maxNumberOfAttempts = maxNumberOfAttempts;
      this.backoffCoefficient = 1;
      this.maxRetryIntervalInMilliseconds = Number.MAX_SAFE_INTEGER;
      this.retryTimeoutInMilliseconds = Number.MAX_SAFE_INTEGER;
    }
  }

  class RetryableTask extends Task {
    constructor(options, attempt) {
      super();
      if (!(options instanceof RetryOptions)) throw new TypeError("retryOptions must be a df.RetryOptions");
      this._options = options;
      this._attempt = attempt;
      this._attempts = 0;
      this._current = undefined;
      this._timer = undefined;
    }
    _schedule() {
      if (this._current === undefined) {
        this._started = host.now();
        this._next();
      }
    }
    _next() {
      this._attempts += 1;
      this._current = this._attempt();
      schedule(this._current);
    }
    _pending(out) {
      if (!this._done) (this._timer || this._current)._pending(out);
    }
    _refresh() {
      if (this._done) return;
      if (this._timer) {
        if (!this._timer._done) return;
        this._timer = undefined;
        return this._next();
      }
      this._current._refresh();
      if (this._current.isCompleted) return this._complete(this._current.result);
      if (!this._current.isFaulted) return;
      const o = this._options;
      const delay = Math.min(
        o.firstRetryIntervalInMilliseconds * Math.pow(o.backoffCoefficient, this._attempts - 1),
        o.maxRetryIntervalInMilliseconds,
      );
      const fireAt = host.now() + delay;
      if (this._attempts >= o.maxNumberOfAttempts || fireAt > this._started + o.retryTimeoutInMilliseconds) {
        return this._fail(this._current.result);
      }
      this._timer = new TimerTask(fireAt);
      schedule(this._timer);
    }
  }

  function schedule(task) {
    if (!(task instanceof Task)) throw new TypeError("an orchestrator may only yield tasks");
    task._schedule();
  }

  // Blocks (in the host) until `root` is done; each host wait resolves one task.
  function waitFor(root) {
    schedule(root);
    // Most yields are one activity, event or sub-orchestration: one host wait, no tree walk
    // (every JS call counts: orchestrator turns are metered by fuel).
    if (Object.getPrototypeOf(root) === AtomicTask.prototype) {
      if (!root.isCompleted && !root.isFaulted) root._settle(host.waitAll([root._id])[0]);
      return;
    }
    root._refresh();
    while (!root._done) {
      const leaves = [];
      root._pending(leaves);
      if (leaves.length === 0) throw new Error("the orchestrator waits on a task that cannot complete (a cancelled timer)");
      if (leaves.length === 1) {
        leaves[0]._settle(host.waitAll([leaves[0]._id])[0]);
      } else {
        const found = host.waitAny(leaves.map((l) => l._id));
        leaves[found[0]]._settle(found[1]);
      }
      root._refresh();
    }
  }

  const TaskApi = {
    all: (tasks) => new WhenAllTask(tasks),
    any: (tasks) => new WhenAnyTask(tasks),
  };

  const activity = (name, input) => atomicTask(() => host.scheduleActivity(name, toJson(input)));
  const child = (name, input, instanceId) =>
    atomicTask(() => host.scheduleSubOrchestration(name, instanceId === undefined ? null : String(instanceId), toJson(input)));

  class DurableOrchestrationContext {
    get instanceId() {
      return host.instanceId();
    }
    get parentInstanceId() {
      return host.parentInstanceId();
    }
    /** Durable Functions' orchestration versioning: the instance's version, or null. */
    get version() {
      return host.version() ?? null;
    }
    get isReplaying() {
      return host.isReplaying();
    }
    get currentUtcDateTime() {
      return new Date(host.now());
    }
    get Task() {
      return TaskApi;
    }
    getInput() {
      return fromJson(host.input());
    }
    callActivity(name, input) {
      return activity(name, input);
    }
    callActivityWithRetry(name, retryOptions, input) {
      return new RetryableTask(retryOptions, () => activity(name, input));
    }
    callSubOrchestrator(name, input, instanceId) {
      return child(name, input, instanceId);
    }
    callSubOrchestratorWithRetry(name, retryOptions, input, instanceId) {
      return new RetryableTask(retryOptions, () => child(name, input, instanceId));
    }
    createTimer(fireAt) {
      const ms = fireAt instanceof Date ? fireAt.getTime() : Number(fireAt);
      if (!Number.isFinite(ms)) throw new TypeError("createTimer needs a Date");
      return new TimerTask(Math.max(0, Math.floor(ms)));
    }
    waitForExternalEvent(name) {
      return atomicTask(() => host.waitForEvent(String(name)));
    }
    continueAsNew(input) {
      host.continueAsNew(toJson(input));
    }
    setCustomStatus(status) {
      host.setCustomStatus(status === undefined || status === null ? null : JSON.stringify(status));
    }
    newGuid() {
      return host.newGuid();
    }
    callHttp() {
      throw new Error("callHttp is not available in durable-wasm: call an activity that makes the request");
    }
    callEntity() {
      throw new Error("durable entities are not supported yet");
    }
  }

  function drive(fn, context) {
    const iterator = fn(context);
    if (!iterator || typeof iterator.next !== "function") return iterator;
    let step = iterator.next();
    while (!step.done) {
      const task = step.value;
      waitFor(task);
      step = task.isFaulted ? iterator.throw(task.result) : iterator.next(task.result);
    }
    return step.value;
  }

  df.Task = TaskApi;
  df.RetryOptions = RetryOptions;

  g.__names = () => [...registry.orchestrations.keys()];
  g.__run = (name, _input) => {
    const fn = registry.orchestrations.get(name);
    if (!fn) throw new Error(`this app has no orchestration named "${name}"`);
    const context = new g.__durable.InvocationContext(name, host.instanceId(), { df: new DurableOrchestrationContext() });
    return toJson(drive(fn, context));
  };
})(globalThis);
