/**
 * MCP labels and agent names: an MCP label becomes a room toolkit's name (the rule
 * `room.register_toolkit` applies), each once per manifest; agents[].name is a participant
 * name, each once, and a warning when no token of the service carries it. Errors give the
 * field path, what was expected and what was given; YAML errors carry the line.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseManifest, validateManifestObject, TOOLKIT_NAME_RE } from "../src/index.ts";
import { accepted, errorAt } from "./fixtures.ts";

const base = (extra: Record<string, unknown> = {}) => ({
  version: "v1", kind: "Service", metadata: { name: "tools" }, container: { image: "a" }, ...extra,
});
const mcpPort = (...labels: string[]) => ({ ports: [{ num: 9000, endpoints: labels.map((label, i) => ({ path: `/mcp${i}`, mcp: { label } })) }] });

test("mcp.label must be a toolkit name: the error says where, the rule, and what was given", () => {
  const e = errorAt(validateManifestObject(base(mcpPort("Research Tools"))), "ports[0].endpoints[0].mcp.label");
  assert.equal(e.message, "is not a valid toolkit name");
  assert.match(e.expected, /letters, digits, "_", ".", ":" or "-", 1 to 128 characters/);
  assert.equal(e.received, JSON.stringify("Research Tools"));
  for (const bad of ["", " ", "a/b", "tools\n", "ü", "x".repeat(129)]) errorAt(validateManifestObject(base(mcpPort(bad))), "ports[0].endpoints[0].mcp.label");
  for (const good of ["research", "Research_Tools", "acme.search:v2", "x".repeat(128)]) {
    accepted(validateManifestObject(base(mcpPort(good))));
    assert.ok(TOOLKIT_NAME_RE.test(good), "the exported rule is the one applied");
  }
});

test("two MCP endpoints with one label are refused at the second, naming the first", () => {
  const two = { ports: [
    { num: 9000, endpoints: [{ path: "/mcp", mcp: { label: "search" } }] },
    { num: 9001, endpoints: [{ path: "/a", meshagent: { identity: "bot" } }, { path: "/mcp", mcp: { label: "search" } }] },
  ] };
  const e = errorAt(validateManifestObject(base(two)), "ports[1].endpoints[1].mcp.label");
  assert.equal(e.message, "duplicates ports[0].endpoints[0].mcp.label");
  assert.equal(e.received, '"search"');
  accepted(validateManifestObject(base(mcpPort("search", "files"))));
});

test("agents[].name is a participant name, each once; errors are located in YAML", () => {
  for (const [bad, msg] of [["", /empty or blank/], ["  ", /empty or blank/], [" bot", /start or end with spaces/], ["bot\tx", /control characters/], ["x".repeat(129), /longer than 128/]] as const) {
    const e = errorAt(validateManifestObject(base({ agents: [{ name: bad }] })), "agents[0].name");
    assert.match(e.message, msg);
    assert.match(e.expected, /a participant name/);
  }
  const d = errorAt(validateManifestObject(base({ agents: [{ name: "tools" }, { name: "tools" }] })), "agents[1].name");
  assert.equal(d.message, "duplicates agents[0].name");
  // The same rule for every other participant name a manifest gives.
  errorAt(validateManifestObject(base({ container: { image: "a", environment: [{ name: "T", token: { identity: " x" } }] } })), "container.environment[0].token.identity");
  errorAt(validateManifestObject(base({ ports: [{ num: 9000, endpoints: [{ path: "/j", meshagent: { identity: "" } }] }] })), "ports[0].endpoints[0].meshagent.identity");

  const yaml = `version: v1
kind: Service
metadata:
  name: tools
agents:
  - name: tools
  - name: tools
container:
  image: a
`;
  const r = parseManifest(yaml);
  const y = errorAt(r, "agents[1].name");
  assert.equal(y.line, 7);
});

test("an agent no token of the service carries is a warning, not an error", () => {
  // MESHAGENT_TOKEN (template agent) is the service's own name: that agent is fine.
  assert.deepEqual(accepted(validateManifestObject(base({ agents: [{ name: "tools" }] }))).warnings, []);
  const r = accepted(validateManifestObject(base({
    agents: [{ name: "tools" }, { name: "helper" }, { name: "typo" }],
    container: { image: "a", environment: [{ name: "HELPER_TOKEN", token: { identity: "helper" } }] },
  })));
  const w = r.warnings.filter((x) => x.path.startsWith("agents"));
  assert.deepEqual(w.map((x) => x.path), ["agents[2].name"]);
  assert.match(w[0]!.message, /"typo" is not the identity of any token this service gets \(its tokens are for "tools", "helper"\)/);
  const none = accepted(validateManifestObject(base({ agents: [{ name: "tools" }], container: { image: "a", template: "none" } })));
  assert.match(none.warnings.find((x) => x.path === "agents[0].name")!.message, /the service gets no token/);
});
