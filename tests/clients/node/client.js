// Drives the official Durable Functions client for Node.js (npm `durable-functions` 3.x, its
// DurableClient, unmodified) against a running durable host, in both of the client's modes:
//
// - rpc:   `rpcBaseUrl` set, as the Functions host hands it out: the keyless loopback listener
//          (`durable serve --rpc-listen`, path prefix /durabletask/).
// - keyed: no `rpcBaseUrl`: the client fills in the URL templates of the binding data, which
//          point at /runtime/webhooks/durabletask/ with `code=<key>`.
//
// Environment: DURABLE_URL (http://127.0.0.1:PORT), DURABLE_RPC_URL (http://127.0.0.1:PORT),
// DURABLE_KEY (a function key), CLIENT_MODE (rpc | keyed), RUN_ID (prefix for instance ids).
// Prints one JSON line per check and, last, a summary line the Rust test cross-checks against the
// host. Exits non-zero on the first failed check.
"use strict";

const df = require("durable-functions");

const base = process.env.DURABLE_URL;
const rpc = process.env.DURABLE_RPC_URL;
const key = process.env.DURABLE_KEY;
const mode = process.env.CLIENT_MODE || "rpc";
const run = process.env.RUN_ID || `node-${Date.now()}`;
if (!base || !rpc || !key) {
    console.error("set DURABLE_URL, DURABLE_RPC_URL and DURABLE_KEY");
    process.exit(2);
}
// Without this the client rewrites every URL of the binding data to http://localhost:7071.
process.env.WEBSITE_HOSTNAME = new URL(base).host;

/** The client binding data the Azure Functions host would hand to a function. */
function bindingData() {
    const hook = `${base}/runtime/webhooks/durabletask`;
    const common = `taskHub=durable&connection=Storage&code=${key}`;
    const instance = `${hook}/instances/INSTANCEID`;
    return {
        taskHubName: "durable",
        creationUrls: {
            createNewInstancePostUri: `${hook}/orchestrators/{functionName}[/{instanceId}]?code=${key}`,
            createAndWaitOnNewInstancePostUri: `${hook}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${key}`,
        },
        managementUrls: {
            id: "INSTANCEID",
            statusQueryGetUri: `${instance}?${common}`,
            sendEventPostUri: `${instance}/raiseEvent/{eventName}?${common}`,
            terminatePostUri: `${instance}/terminate?reason={text}&${common}`,
            rewindPostUri: `${instance}/rewind?reason={text}&${common}`,
            purgeHistoryDeleteUri: `${instance}?${common}`,
            restartPostUri: `${instance}/restart?${common}`,
            suspendPostUri: `${instance}/suspend?reason={text}&${common}`,
            resumePostUri: `${instance}/resume?reason={text}&${common}`,
        },
        baseUrl: hook,
        requiredQueryStringParameters: `code=${key}`,
        rpcBaseUrl: mode === "rpc" ? `${rpc}/durabletask/` : undefined,
    };
}

/** `df.getClient` as a function would call it, with the invocation context it reads. */
function client() {
    const input = df.input.durableClient();
    const data = bindingData();
    const context = {
        options: { extraInputs: [input] },
        extraInputs: { get: () => data },
    };
    return df.getClient(context);
}

function check(name, ok, detail) {
    console.log(JSON.stringify({ check: name, ok: Boolean(ok), detail }));
    if (!ok) {
        console.error(`FAILED: ${name}: ${JSON.stringify(detail)}`);
        process.exit(1);
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(c, id, wanted, what) {
    const deadline = Date.now() + 30000;
    let last;
    while (Date.now() < deadline) {
        last = await c.getStatus(id);
        if (wanted(last)) return last;
        await sleep(20);
    }
    check(`${what}: ${id} reaches the expected state`, false, last);
}

async function expectReject(promise) {
    try {
        await promise;
    } catch (e) {
        return e.message;
    }
    return null;
}

async function main() {
    const c = client();
    const since = new Date(Date.now() - 60000);
    const summary = { mode, completed: [], terminated: [], purged: [] };

    // start + status: the seed workflow with an input object.
    const order = { orderId: `${run}-A1`, customerId: "C-7" };
    const seedId = await c.startNew("orderProcessingOrchestrator", { input: order });
    check("startNew returns an instance id", typeof seedId === "string" && seedId.length > 0, seedId);
    const done = await waitFor(c, seedId, (s) => s.runtimeStatus === "Completed", "seed");
    check("seed output", done.output && done.output.reservationId === `${order.orderId}-inv`, done.output);
    check("status fields", done.name === "orderProcessingOrchestrator" && done.instanceId === seedId
        && !Number.isNaN(Date.parse(done.createdTime)) && done.input.orderId === order.orderId, done);
    summary.completed.push(seedId);

    // startNew with a version (orchestration versioning): sent as ?version=, kept by the host.
    const versionedId = await c.startNew("orderProcessingOrchestrator", { input: order, version: "1.5" });
    await waitFor(c, versionedId, (s) => s.runtimeStatus === "Completed", "versioned");
    summary.versioned = { [versionedId]: "1.5" };

    const withHistory = await c.getStatus(seedId, { showHistory: true, showHistoryOutput: true });
    const kinds = (withHistory.history || []).map((e) => e.EventType);
    check("history uses Durable Functions event names",
        kinds[0] === "ExecutionStarted" && kinds.includes("TaskCompleted") && kinds[kinds.length - 1] === "ExecutionCompleted", kinds);

    // start with a chosen id, raise an event.
    const approvalId = `${run}-approval`;
    const got = await c.startNew("approvalWorkflow", { instanceId: approvalId, input: { timeoutMs: 3600000 } });
    check("startNew keeps the chosen id", got === approvalId, got);
    await waitFor(c, approvalId, (s) => s.customStatus === "waiting for approval", "approval");
    await c.raiseEvent(approvalId, "Approval", { approvedBy: "node" });
    const approved = await waitFor(c, approvalId, (s) => s.runtimeStatus === "Completed", "approval");
    check("raiseEvent delivers the data", approved.output && approved.output.approvedBy === "node", approved.output);
    summary.completed.push(approvalId);

    // suspend, an event while suspended, resume.
    const pausedId = `${run}-paused`;
    await c.startNew("approvalWorkflow", { instanceId: pausedId, input: { timeoutMs: 3600000 } });
    await waitFor(c, pausedId, (s) => s.customStatus === "waiting for approval", "paused");
    await c.suspend(pausedId, "maintenance window");
    await waitFor(c, pausedId, (s) => s.runtimeStatus === "Suspended", "suspend");
    await c.raiseEvent(pausedId, "Approval", { approvedBy: "while suspended" });
    await sleep(100);
    const still = await c.getStatus(pausedId);
    check("a suspended instance holds its events", still.runtimeStatus === "Suspended", still.runtimeStatus);
    await c.resume(pausedId, "window over");
    const resumed = await waitFor(c, pausedId, (s) => s.runtimeStatus === "Completed", "resume");
    check("resume runs the held event", resumed.output && resumed.output.approvedBy === "while suspended", resumed.output);
    summary.completed.push(pausedId);

    // terminate.
    const doomedId = `${run}-doomed`;
    await c.startNew("approvalWorkflow", { instanceId: doomedId, input: { timeoutMs: 3600000 } });
    await waitFor(c, doomedId, (s) => s.runtimeStatus === "Running", "doomed");
    await c.terminate(doomedId, "no longer needed");
    const terminated = await waitFor(c, doomedId, (s) => s.runtimeStatus === "Terminated", "terminate");
    check("terminate records the reason", JSON.stringify(terminated.output).includes("no longer needed"), terminated.output);
    summary.terminated.push(doomedId);
    check("terminate on a finished instance is accepted (410)", (await expectReject(c.terminate(doomedId, "again"))) === null, null);

    // list: everything, and by filter.
    const all = await c.getStatusAll();
    const allIds = all.map((s) => s.instanceId);
    check("getStatusAll lists every instance", [seedId, approvalId, pausedId, doomedId].every((id) => allIds.includes(id)), allIds.length);
    const byStatus = await c.getStatusBy({ createdTimeFrom: since, runtimeStatus: [df.OrchestrationRuntimeStatus.Terminated] });
    check("getStatusBy filters by status", byStatus.length >= 1 && byStatus.every((s) => s.runtimeStatus === "Terminated")
        && byStatus.some((s) => s.instanceId === doomedId), byStatus.map((s) => s.runtimeStatus));

    // errors surface as rejections with the host's message.
    const unknown = await expectReject(c.startNew("noSuchOrchestrator", { input: 1 }));
    check("unknown orchestration is refused", unknown !== null && unknown.includes("noSuchOrchestrator"), unknown);
    const missing = await expectReject(c.getStatus(`${run}-missing`));
    check("unknown instance is a 404", missing !== null && missing.includes("404"), missing);
    const notFailed = await expectReject(c.rewind(seedId, "why not"));
    check("rewind of a completed instance is refused (412)", notFailed !== null, notFailed);

    // purge one, then purge by filter.
    const purged = await c.purgeInstanceHistory(seedId);
    check("purgeInstanceHistory deletes one", purged.instancesDeleted === 1, purged);
    summary.purged.push(seedId);
    const gone = await expectReject(c.getStatus(seedId));
    check("a purged instance is gone", gone !== null && gone.includes("404"), gone);
    const again = await c.purgeInstanceHistory(seedId);
    check("purging again deletes nothing", again.instancesDeleted === 0, again);
    const byFilter = await c.purgeInstanceHistoryBy({ createdTimeFrom: since, runtimeStatus: [df.OrchestrationRuntimeStatus.Terminated] });
    check("purgeInstanceHistoryBy deletes the terminated ones", byFilter.instancesDeleted >= 1, byFilter);
    summary.purged.push(doomedId);
    summary.completed = summary.completed.filter((id) => id !== seedId);
    summary.terminated = [];

    // local helpers build the same payload the host does.
    const payload = c.createHttpManagementPayload(approvalId);
    check("createHttpManagementPayload", payload.statusQueryGetUri.includes(approvalId), payload.statusQueryGetUri);

    // Entities: signalEntity + readEntityState, on the seed app's Counter.
    const counterKey = `${run}-counter`;
    const counter = new df.EntityId("Counter", counterKey);
    await c.signalEntity(counter, "add", 5);
    await c.signalEntity(counter, "add", 2);
    let state;
    for (const deadline = Date.now() + 30000; Date.now() < deadline; await sleep(20)) {
        state = await c.readEntityState(counter);
        if (state.entityExists && state.entityState === 7) break;
    }
    check("signalEntity twice, readEntityState sees both", state.entityExists && state.entityState === 7, state);
    const none = await c.readEntityState(new df.EntityId("Counter", `${run}-never`));
    check("readEntityState of an entity without state", none.entityExists === false, none);
    const badName = await expectReject(c.signalEntity(new df.EntityId("NoSuchEntity", "k"), "add", 1));
    check("signalEntity to an unknown entity is refused", badName !== null && badName.includes("404"), badName);
    summary.entities = { [counterKey]: 7 };

    console.log(JSON.stringify({ summary }));
}

main().catch((e) => {
    console.error(`FAILED: ${e && e.stack ? e.stack : e}`);
    process.exit(1);
});
