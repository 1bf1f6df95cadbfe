/** Manifests shared by the tests: written the way MeshAgent users write them. */
import assert from "node:assert/strict";
import type { ManifestError, ParseResult } from "../src/index.ts";

export const MINIMAL_YAML = `version: v1
kind: Service
metadata:
  name: echo
container:
  image: echo-agent:1.0
`;

/** Env value/token/secret, storage, ports with liveness and an MCP endpoint, nulls. */
export const FULL_YAML = `version: v1
kind: Service
metadata:
  name: research-tools
  description: MCP tools for the research room
  repo: null
  icon: null
  annotations:
    meshagent.agent.type: Worker
container:
  image: ghcr.io/acme/research-tools:2.3
  command: python -m tools.server --port 8000 --name "Research Tools"
  working_dir: /app
  environment:
    - name: LOG_LEVEL
      value: debug
    - name: MESHAGENT_TOKEN
      token:
        identity: research-tools
        role: agent
        api:
          messaging: {}
          storage:
            paths:
              - path: /reports
                read_only: false
    - name: SEARCH_API_KEY
      secret:
        id: search-api
  storage:
    room:
      - path: /data
      - path: /reports
        subpath: reports
        read_only: true
ports:
  - num: 8000
    type: http
    liveness: /health
    endpoints:
      - path: /mcp
        mcp:
          label: research
          description: search and summarize
          allowed_tools:
            - tool_names: [search, summarize]
          headers:
            X-Source: room
  - num: 9000
    type: tcp
`;

/** The same manifest as FULL_YAML, written as JSON. */
export const FULL_JSON = JSON.stringify(
  {
    version: "v1",
    kind: "Service",
    metadata: {
      name: "research-tools",
      description: "MCP tools for the research room",
      repo: null,
      icon: null,
      annotations: { "meshagent.agent.type": "Worker" },
    },
    container: {
      image: "ghcr.io/acme/research-tools:2.3",
      command: 'python -m tools.server --port 8000 --name "Research Tools"',
      working_dir: "/app",
      environment: [
        { name: "LOG_LEVEL", value: "debug" },
        {
          name: "MESHAGENT_TOKEN",
          token: { identity: "research-tools", role: "agent", api: { messaging: {}, storage: { paths: [{ path: "/reports", read_only: false }] } } },
        },
        { name: "SEARCH_API_KEY", secret: { id: "search-api" } },
      ],
      storage: { room: [{ path: "/data" }, { path: "/reports", subpath: "reports", read_only: true }] },
    },
    ports: [
      {
        num: 8000,
        type: "http",
        liveness: "/health",
        endpoints: [
          {
            path: "/mcp",
            mcp: { label: "research", description: "search and summarize", allowed_tools: [{ tool_names: ["search", "summarize"] }], headers: { "X-Source": "room" } },
          },
        ],
      },
      { num: 9000, type: "tcp" },
    ],
  },
  null,
  2,
);

/** MINIMAL_YAML with `extra` appended (indentation is the caller's). */
export function withExtra(extra: string): string {
  return MINIMAL_YAML + extra;
}


/** The one error at `path`; fails the test (listing all errors) if there is none. */
export function errorAt(r: ParseResult, path: string): ManifestError {
  assert.equal(r.ok, false, "expected the manifest to be rejected");
  if (r.ok) throw new Error("unreachable");
  const found = r.errors.filter((e) => e.path === path);
  assert.equal(found.length, 1, `expected one error at ${path}, got:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join("\n")}`);
  return found[0];
}

/** The manifest of an accepted result; fails the test (listing the errors) otherwise. */
export function accepted(r: ParseResult) {
  if (!r.ok) assert.fail(`expected the manifest to be accepted, got:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join("\n")}`);
  return r;
}
