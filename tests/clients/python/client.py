"""Drives the official Durable Functions client for Python (PyPI `azure-functions-durable`, its
DurableOrchestrationClient, unmodified) against a running durable host.

The client is constructed from the binding data the Azure Functions host would hand a function;
like the real one, its `rpcBaseUrl` points at the keyless loopback listener
(`durable serve --rpc-listen`, path prefix /durabletask/), which this client uses for everything.

Environment: DURABLE_URL, DURABLE_RPC_URL, DURABLE_KEY, RUN_ID. Prints one JSON line per check and,
last, a summary line the Rust test cross-checks against the host. Exits non-zero on the first
failed check.
"""

import asyncio
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from azure.durable_functions import DurableOrchestrationClient, EntityId, OrchestrationRuntimeStatus

BASE = os.environ["DURABLE_URL"]
RPC = os.environ["DURABLE_RPC_URL"]
KEY = os.environ["DURABLE_KEY"]
RUN = os.environ.get("RUN_ID", f"py-{int(time.time())}")


def binding_data() -> str:
    hook = f"{BASE}/runtime/webhooks/durabletask"
    common = f"taskHub=durable&connection=Storage&code={KEY}"
    instance = f"{hook}/instances/INSTANCEID"
    return json.dumps({
        "taskHubName": "durable",
        "creationUrls": {
            "createNewInstancePostUri": f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?code={KEY}",
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{instance}?{common}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{common}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{common}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{common}",
            "purgeHistoryDeleteUri": f"{instance}?{common}",
            "restartPostUri": f"{instance}/restart?{common}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{common}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{common}",
        },
        "baseUrl": hook,
        "requiredQueryStringParameters": f"code={KEY}",
        "rpcBaseUrl": f"{RPC}/durabletask/",
    })


def check(name, ok, detail=None):
    print(json.dumps({"check": name, "ok": bool(ok), "detail": detail}, default=str), flush=True)
    if not ok:
        print(f"FAILED: {name}: {detail!r}", file=sys.stderr)
        sys.exit(1)


async def wait_for(client, instance_id, wanted, what):
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status = await client.get_status(instance_id)
        if wanted(status):
            return status
        await asyncio.sleep(0.02)
    check(f"{what}: {instance_id} reaches the expected state", False, status and status.to_json())


async def raises(awaitable):
    try:
        await awaitable
    except Exception as e:  # the client raises plain Exceptions
        return str(e)
    return None


def running(s):
    return s.runtime_status == OrchestrationRuntimeStatus.Running


async def main():
    client = DurableOrchestrationClient(binding_data())
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    summary = {"completed": [], "purged": []}

    # start + status: the seed workflow.
    order = {"orderId": f"{RUN}-A1", "customerId": "C-7"}
    seed_id = await client.start_new("orderProcessingOrchestrator", client_input=order)
    # start_new with a version (orchestration versioning): sent as ?version=, kept by the host.
    versioned_id = await client.start_new("orderProcessingOrchestrator", client_input=order,
                                          version="1.5")
    await wait_for(client, versioned_id,
                   lambda s: s.runtime_status == OrchestrationRuntimeStatus.Completed, "versioned")
    summary["versioned"] = {versioned_id: "1.5"}
    check("start_new returns an instance id", isinstance(seed_id, str) and seed_id, seed_id)
    done = await wait_for(client, seed_id,
                          lambda s: s.runtime_status == OrchestrationRuntimeStatus.Completed, "seed")
    check("seed output", done.output == {"orderId": order["orderId"],
                                         "reservationId": f"{order['orderId']}-inv",
                                         "status": "Confirmed"}, done.output)
    check("status fields", done.name == "orderProcessingOrchestrator"
          and done.instance_id == seed_id and done.created_time is not None
          and done.input_ == order, done.to_json())
    summary["completed"].append(seed_id)

    detailed = await client.get_status(seed_id, show_history=True, show_history_output=True)
    kinds = [e["EventType"] for e in (detailed.history or [])]
    check("history uses Durable Functions event names",
          kinds[:1] == ["ExecutionStarted"] and "TaskCompleted" in kinds
          and kinds[-1:] == ["ExecutionCompleted"], kinds)

    # start with a chosen id, raise an event.
    approval_id = f"{RUN}-approval"
    got = await client.start_new("approvalWorkflow", approval_id, {"timeoutMs": 3600000})
    check("start_new keeps the chosen id", got == approval_id, got)
    await wait_for(client, approval_id,
                   lambda s: s.custom_status == "waiting for approval", "approval")
    await client.raise_event(approval_id, "Approval", {"approvedBy": "python"})
    approved = await wait_for(client, approval_id,
                              lambda s: s.runtime_status == OrchestrationRuntimeStatus.Completed,
                              "approval")
    check("raise_event delivers the data", approved.output == {"approvedBy": "python"},
          approved.output)
    summary["completed"].append(approval_id)

    # suspend, an event while suspended, resume.
    paused_id = f"{RUN}-paused"
    await client.start_new("approvalWorkflow", paused_id, {"timeoutMs": 3600000})
    await wait_for(client, paused_id, lambda s: s.custom_status == "waiting for approval", "paused")
    await client.suspend(paused_id, "maintenance window")
    await wait_for(client, paused_id,
                   lambda s: s.runtime_status == OrchestrationRuntimeStatus.Suspended, "suspend")
    await client.raise_event(paused_id, "Approval", {"approvedBy": "while suspended"})
    await asyncio.sleep(0.1)
    still = await client.get_status(paused_id)
    check("a suspended instance holds its events",
          still.runtime_status == OrchestrationRuntimeStatus.Suspended, str(still.runtime_status))
    await client.resume(paused_id, "window over")
    resumed = await wait_for(client, paused_id,
                             lambda s: s.runtime_status == OrchestrationRuntimeStatus.Completed,
                             "resume")
    check("resume runs the held event", resumed.output == {"approvedBy": "while suspended"},
          resumed.output)
    summary["completed"].append(paused_id)

    # terminate.
    doomed_id = f"{RUN}-doomed"
    await client.start_new("approvalWorkflow", doomed_id, {"timeoutMs": 3600000})
    await wait_for(client, doomed_id, running, "doomed")
    await client.terminate(doomed_id, "no longer needed")
    terminated = await wait_for(
        client, doomed_id,
        lambda s: s.runtime_status == OrchestrationRuntimeStatus.Terminated, "terminate")
    check("terminate records the reason", "no longer needed" in json.dumps(terminated.output),
          terminated.output)
    check("terminating a finished instance is not an error (410)",
          await raises(client.terminate(doomed_id, "again")) is None)

    # list: everything, and by filter.
    everything = await client.get_status_all()
    ids = {s.instance_id for s in everything}
    check("get_status_all lists every instance",
          {seed_id, approval_id, paused_id, doomed_id} <= ids, len(ids))
    by_status = await client.get_status_by(
        created_time_from=since, runtime_status=[OrchestrationRuntimeStatus.Terminated])
    check("get_status_by filters by status",
          by_status and all(s.runtime_status == OrchestrationRuntimeStatus.Terminated
                            for s in by_status)
          and doomed_id in {s.instance_id for s in by_status},
          [str(s.runtime_status) for s in by_status])
    by_prefix = await client.get_status_by(instance_id_prefix=f"{RUN}-")
    check("get_status_by filters by id prefix",
          {s.instance_id for s in by_prefix} == {approval_id, paused_id, doomed_id},
          sorted(s.instance_id for s in by_prefix))

    # errors surface with the host's message.
    unknown = await raises(client.start_new("noSuchOrchestrator", client_input=1))
    check("unknown orchestration is refused with the host's message",
          unknown is not None and "noSuchOrchestrator" in unknown, unknown)
    missing = await client.get_status(f"{RUN}-missing")
    message = getattr(missing, "Message", "")
    check("an unknown instance has no status, and the host says why",
          missing.runtime_status is None and "no instance" in message, message)

    # purge one, then purge by filter.
    purged = await client.purge_instance_history(seed_id)
    check("purge_instance_history deletes one", purged.instances_deleted == 1,
          purged.instances_deleted)
    summary["purged"].append(seed_id)
    again = await client.purge_instance_history(seed_id)
    check("purging again deletes nothing", again.instances_deleted == 0, again.instances_deleted)
    by_filter = await client.purge_instance_history_by(
        created_time_from=since, runtime_status=[OrchestrationRuntimeStatus.Terminated])
    check("purge_instance_history_by deletes the terminated ones", by_filter.instances_deleted >= 1,
          by_filter.instances_deleted)
    summary["purged"].append(doomed_id)
    summary["completed"].remove(seed_id)

    # Entities: signal_entity + read_entity_state, on the seed app's Counter. (This client sends
    # the input JSON-encoded twice: 5 arrives as "5", which Counter's add takes.)
    counter_key = f"{RUN}-counter"
    counter = EntityId("Counter", counter_key)
    await client.signal_entity(counter, "add", 5)
    await client.signal_entity(counter, "add", 2)
    deadline = time.time() + 30
    state = await client.read_entity_state(counter)
    while not (state.entity_exists and state.entity_state == 7) and time.time() < deadline:
        await asyncio.sleep(0.02)
        state = await client.read_entity_state(counter)
    check("signal_entity twice, read_entity_state sees both",
          state.entity_exists and state.entity_state == 7, [state.entity_exists, state.entity_state])
    none = await client.read_entity_state(EntityId("Counter", f"{RUN}-never"))
    check("read_entity_state of an entity without state", not none.entity_exists,
          none.entity_exists)
    summary["entities"] = {counter_key: 7}

    print(json.dumps({"summary": summary}), flush=True)
    # The client keeps one aiohttp session for the process (a Functions worker's lifetime).
    from azure.durable_functions.models.utils import http_utils
    await http_utils._close_session()


if __name__ == "__main__":
    asyncio.run(main())
