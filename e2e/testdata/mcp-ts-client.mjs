// A client nobody here wrote — the TypeScript MCP SDK's — driving
// `viber mcp serve`: list the tools, submit a task, approve its call,
// follow it to the end and read its events resource. Run by
// e2e/mcpserve_test.go as: node mcp-ts-client.mjs VIBER_BINARY
// It prints one JSON object with what it saw.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const viber = process.argv[2];
const transport = new StdioClientTransport({ command: viber, args: ["mcp", "serve"], env: { ...process.env }, stderr: "inherit" });
const client = new Client({ name: "ts-sdk-client", version: "1.0.0" });
await client.connect(transport);

const call = async (name, args) => {
  const res = await client.callTool({ name, arguments: args });
  if (res.isError) throw new Error(`${name}: ${res.content.map((c) => c.text).join(" ")}`);
  return res.structuredContent;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const tools = (await client.listTools()).tools.map((t) => t.name).sort();
const submitted = await call("submit_task", { goal: "run the shell" });
const id = submitted.task.id;
let task;
for (let i = 0; i < 300; i++) {
  task = (await call("get_task", { id })).task;
  if ((task.pending_approvals || []).length > 0) break;
  await sleep(100);
}
const callId = task.pending_approvals[0];
await call("decide_approval", { id, call_id: callId, approved: true, reason: "ts client says yes" });
let done;
for (let i = 0; i < 300; i++) {
  done = await call("get_task", { id });
  if (done.done) break;
  await sleep(100);
}
const events = await client.readResource({ uri: `viber://tasks/${id}/events` });
const types = events.contents[0].text.trim().split("\n").map((l) => JSON.parse(l).type.replace("viber.task.", ""));
console.log(JSON.stringify({ tools, id, call_id: callId, state: done.task.state, result: done.task.result, types }));
await client.close();
