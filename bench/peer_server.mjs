// The peer outside Python, for bench/peer.py: a stdio MCP server on the official
// TypeScript SDK (npm @modelcontextprotocol/sdk, installed by the benchmark into a
// temporary folder; PD_MCP_BENCH_PEER_SDK and PD_MCP_BENCH_PEER_ZOD say where).
// One tool, get_dataset_status(dataset_id), doing exactly one GET of the v2 status
// URL with Node's keep-alive fetch and returning the body, as the official
// Powerdrill MCP server does. It reads the same environment as pd-mcp. It is a
// benchmark baseline, not a product: no validation, no retries, no logging.

const sdk = process.env.PD_MCP_BENCH_PEER_SDK; // .../node_modules/@modelcontextprotocol/sdk/dist/esm
const { McpServer } = await import(`${sdk}/server/mcp.js`);
const { StdioServerTransport } = await import(`${sdk}/server/stdio.js`);
const { z } = await import(process.env.PD_MCP_BENCH_PEER_ZOD);

const base = (process.env.POWERDRILL_API_URL || "").replace(/\/+$/, "");
const userId = process.env.POWERDRILL_USER_ID || "";
const headers = { "x-pd-api-key": process.env.POWERDRILL_PROJECT_API_KEY || "" };

const server = new McpServer({ name: "peer", version: "1" });

server.registerTool(
  "get_dataset_status",
  {
    description: "One GET of the dataset's status; returns the response body.",
    inputSchema: { dataset_id: z.string() },
  },
  async ({ dataset_id }) => {
    const url = `${base}/v2/team/datasets/${encodeURIComponent(dataset_id)}/status?user_id=${encodeURIComponent(userId)}`;
    const response = await fetch(url, { headers });
    return { content: [{ type: "text", text: await response.text() }] };
  },
);

await server.connect(new StdioServerTransport());
