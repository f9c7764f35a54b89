// durable-wasm JavaScript runtime, HTTP-function role: runs `app.http` handlers with an
// @azure/functions-like request and a Durable Functions client backed by the host.
"use strict";
(function (g) {
  const { host, registry, fromJson, HttpResponse, InvocationContext } = g.__durable;

  // No entropy source here either: a PRNG seeded from the clock (not for secrets).
  let seed;
  Math.random = () => {
    if (seed === undefined) seed = host.now() | 0;
    seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
    return (seed >>> 0) / 4294967296;
  };

  class Headers {
    constructor(pairs) {
      this._map = new Map();
      for (const [k, v] of pairs) this._map.set(k.toLowerCase(), v);
    }
    get(name) {
      const v = this._map.get(String(name).toLowerCase());
      return v === undefined ? null : v;
    }
    has(name) {
      return this._map.has(String(name).toLowerCase());
    }
    entries() {
      return this._map.entries();
    }
    [Symbol.iterator]() {
      return this._map.entries();
    }
  }

  class Query {
    constructor(object) {
      this._object = object;
    }
    get(name) {
      const v = this._object[name];
      return v === undefined ? null : v;
    }
    has(name) {
      return name in this._object;
    }
  }

  class HttpRequest {
    constructor(raw) {
      this.method = raw.method;
      this.url = raw.url;
      this.headers = new Headers(raw.headers);
      this.params = raw.params;
      this.query = new Query(raw.query);
      this._body = raw.body;
      this.user = null;
    }
    async text() {
      return this._body;
    }
    async json() {
      try {
        return JSON.parse(this._body);
      } catch (e) {
        throw new SyntaxError(`request body is not JSON: ${e.message}`);
      }
    }
  }

  const unwrap = (result) => {
    if (result.error !== undefined) throw new Error(result.error);
    return result.ok;
  };

  class DurableClient {
    constructor(request) {
      this._request = request;
    }
    async startNew(name, options) {
      const o = options || {};
      const input = o.input === undefined ? null : JSON.stringify(o.input);
      return unwrap(host.startNew(String(name), o.instanceId === undefined ? null : String(o.instanceId), input));
    }
    async getStatus(instanceId) {
      const status = unwrap(host.getStatus(String(instanceId)));
      return status == null ? undefined : JSON.parse(status);
    }
    async raiseEvent(instanceId, eventName, eventData) {
      unwrap(host.raiseEvent(String(instanceId), String(eventName), JSON.stringify(eventData === undefined ? null : eventData)));
    }
    async terminate(instanceId, reason) {
      unwrap(host.terminate(String(instanceId), String(reason === undefined ? "" : reason)));
    }
    createHttpManagementPayload(instanceId) {
      return JSON.parse(host.checkStatusPayload(String(instanceId), this._request ? this._request.url : ""));
    }
    createCheckStatusResponse(request, instanceId) {
      const url = request && request.url ? request.url : this._request ? this._request.url : "";
      const payload = JSON.parse(host.checkStatusPayload(String(instanceId), url));
      return new HttpResponse({
        status: 202,
        jsonBody: payload,
        headers: { "Content-Type": "application/json", Location: payload.statusQueryGetUri, "Retry-After": "10" },
      });
    }
    async waitForCompletionOrCreateCheckStatusResponse(request, instanceId, options) {
      const timeout = options && options.timeoutInMilliseconds !== undefined ? options.timeoutInMilliseconds : 10000;
      const status = unwrap(host.waitForCompletion(String(instanceId), Math.max(0, Math.floor(timeout))));
      if (status == null) return this.createCheckStatusResponse(request, instanceId);
      const parsed = JSON.parse(status);
      if (parsed.runtimeStatus === "Completed") return new HttpResponse({ status: 200, jsonBody: parsed.output });
      return new HttpResponse({ status: 200, jsonBody: parsed });
    }
  }

  let current;
  g.__durable.df.getClient = () => new DurableClient(current);

  g.__routes = () =>
    [...registry.http.entries()].map(([name, f]) => [name, f.route, f.methods, f.authLevel]);

  function response(value) {
    const r = value instanceof HttpResponse ? value : new HttpResponse(value || {});
    const headers = Object.entries(r.headers || {}).map(([k, v]) => [String(k), String(v)]);
    let body = "";
    if (r.jsonBody !== undefined) {
      body = JSON.stringify(r.jsonBody);
      if (!headers.some(([k]) => k.toLowerCase() === "content-type")) headers.push(["Content-Type", "application/json"]);
    } else if (typeof r.body === "string") {
      body = r.body;
    } else if (r.body !== undefined && r.body !== null) {
      body = JSON.stringify(r.body);
    }
    return [Number(r.status), headers, body];
  }

  g.__start = (name, raw) => {
    const f = registry.http.get(name);
    if (!f) throw new Error(`this app has no HTTP function named "${name}"`);
    const request = new HttpRequest(raw);
    current = request;
    const context = new InvocationContext(name, "", {});
    return Promise.resolve()
      .then(() => f.handler(request, context))
      .then(response);
  };
  g.__fromJson = fromJson;
})(globalThis);
