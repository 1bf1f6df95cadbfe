// An MCP server (Streamable HTTP, stateless) with tools over room storage. Roomservice reads
// `ports[].endpoints[].mcp` in meshagent.yaml, connects to http://127.0.0.1:8090/mcp inside
// the room, and registers these tools as the room toolkit "data-tools".
import http from "node:http";
import { unlink } from "node:fs/promises";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { validateCsv, markdownReport } from "./csv-tools.mjs";
import { storagePath, writeAtomic } from "./storage.mjs";

const PORT = Number(process.env.PORT ?? 8090);
const MAX_BODY = 1024 * 1024;

/** Tool failures go back as MCP tool errors (isError), which the room shows as error content. */
const failure = (err) => ({ isError: true, content: [{ type: "text", text: err instanceof Error ? err.message : String(err) }] });

const errorShape = z.object({ line: z.number(), column: z.string().nullable(), message: z.string(), value: z.string().nullable() });

function buildServer() {
  const server = new McpServer({ name: "mcp-tools", version: "1.0.0" });

  server.registerTool(
    "validate_csv",
    {
      title: "Validate a CSV file",
      description: "Checks every row of a CSV file in room storage against a JSON Schema for one row (the header row names the columns). Returns counts and the first errors with their line numbers.",
      inputSchema: {
        path: z.string().describe("CSV file in room storage, e.g. inbox/orders.csv"),
        schema: z.record(z.string(), z.unknown()).describe("JSON Schema that one row (an object keyed by column name) must satisfy"),
        max_errors: z.number().int().min(1).max(1000).optional().describe("report at most this many errors (default 20)"),
      },
      outputSchema: {
        path: z.string(), rows: z.number(), valid_rows: z.number(), invalid_rows: z.number(),
        columns: z.array(z.string()), errors: z.array(errorShape), errors_truncated: z.boolean(),
      },
      annotations: { readOnlyHint: true },
    },
    async ({ path, schema, max_errors }) => {
      try {
        const r = await validateCsv({ path, schema, maxErrors: max_errors ?? 20 });
        const text = r.invalid_rows === 0 ? `${path}: all ${r.rows} rows are valid` : `${path}: ${r.invalid_rows} of ${r.rows} rows are invalid`;
        return { content: [{ type: "text", text }], structuredContent: r };
      } catch (err) {
        return failure(err);
      }
    },
  );

  server.registerTool(
    "markdown_report",
    {
      title: "Markdown report of room files",
      description: "Summarises the files under a folder of room storage as Markdown (CSV files get a per-column table). Optionally saves the report into room storage.",
      inputSchema: {
        folder: z.string().optional().describe("folder in room storage (default: all of it)"),
        title: z.string().optional(),
        save_as: z.string().optional().describe("also write the report to this path in room storage, e.g. reports/summary.md"),
      },
      annotations: { readOnlyHint: false, destructiveHint: false },
    },
    async ({ folder, title, save_as }) => {
      try {
        const md = await markdownReport({ folder: folder ?? "", title });
        if (save_as !== undefined) await writeAtomic(save_as, md);
        return { content: [{ type: "text", text: md }] };
      } catch (err) {
        return failure(err);
      }
    },
  );

  // Destructive, so meshagent.yaml's allowed_tools leaves it out of the room toolkit: an
  // example of exposing less than the MCP server offers.
  server.registerTool(
    "remove_file",
    {
      title: "Remove a file",
      description: "Deletes a file from room storage.",
      inputSchema: { path: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: true },
    },
    async ({ path }) => {
      try {
        await unlink(storagePath(path));
        return { content: [{ type: "text", text: `removed ${path}` }] };
      } catch (err) {
        return failure(err);
      }
    },
  );
  return server;
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error(`request body over ${MAX_BODY} bytes`), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(Object.assign(new Error("request body is not JSON"), { status: 400 }));
      }
    });
    req.on("error", reject);
  });
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname === "/healthz") return void res.writeHead(200).end("ok");
  if (url.pathname !== "/mcp") return void res.writeHead(404).end("not found");
  if (req.method !== "POST") {
    // Stateless: no server-initiated stream (GET) and no sessions to end (DELETE).
    return void res.writeHead(405, { allow: "POST" }).end("method not allowed");
  }
  try {
    const body = await readJson(req);
    // Stateless mode: a fresh server and transport per request, as the SDK recommends for
    // servers whose tools need no session state.
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  } catch (err) {
    if (!res.headersSent) res.writeHead(err.status ?? 500, { "content-type": "application/json" });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32603, message: err.message }, id: null }));
  }
});

httpServer.listen(PORT, "127.0.0.1", () => console.log(`mcp-tools listening on 127.0.0.1:${PORT}/mcp`));
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    httpServer.close(() => process.exit(0));
    // An open MCP stream must not hold the stop until the grace period's SIGKILL.
    httpServer.closeAllConnections?.();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
