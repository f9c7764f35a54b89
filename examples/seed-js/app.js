const { app } = require("@azure/functions");
const df = require("durable-functions");
app.http("startOrderOrchestration", {
methods: ["POST"],
route: "orchestrators/order-processing",
authLevel: "function",
extraInputs: [df.input.durableClient()],
handler: async (request, context) => {
const payload = await request.json();
const client = df.getClient(context);
const instanceId = await client.startNew("orderProcessingOrchestrator", {
input: payload
});
context.log("Started orchestration", { instanceId });
return client.createCheckStatusResponse(request, instanceId);
}
});
df.app.orchestration("orderProcessingOrchestrator", function* (context) {
const input = context.df.getInput();
const validatedOrder = yield context.df.callActivity("validateOrder", input);
const inventory = yield context.df.callActivity("reserveInventory", validatedOrder);
const confirmation = yield context.df.callActivity("emitConfirmation", inventory);
return confirmation;
});
df.app.activity("validateOrder", {
handler: (order) => {
if (!order?.orderId || !order?.customerId) {
throw new Error("orderId and customerId are required.");
}
return { ...order, validatedUtc: new Date().toISOString() };
}
});
df.app.activity("reserveInventory", {
handler: (order) => {
return {
...order,
inventoryReservationId: `${order.orderId}-inv`
};
}
});
df.app.activity("emitConfirmation", {
handler: (order) => {
return {
orderId: order.orderId,
reservationId: order.inventoryReservationId,
status: "Confirmed"
};
}
});
