/**
 * Checks of the names a manifest gives to things other participants see: MCP endpoint labels
 * (each becomes a room toolkit of that name) and agents (each names a participant). The
 * shape of each name is checked by the schema (schema/helpers.ts `toolkitName`,
 * `participantName`); what needs the whole manifest is here.
 */
import { formatPath, type LocatedError, type PathSegment } from "./errors.ts";
import type { Manifest } from "./schema/manifest.ts";
import type { LocatedWarning } from "./warnings.ts";

/** The same label twice (two endpoints would claim one toolkit), or the same agent twice. */
export function nameErrors(m: Manifest): LocatedError[] {
  const out: LocatedError[] = [];
  const dup = (segments: PathSegment[], first: string, what: string, value: string) =>
    out.push({ segments, path: formatPath(segments), message: `duplicates ${first}`, expected: what, received: JSON.stringify(value) });

  // The room bridges each label as one toolkit: a second endpoint with the same label would be
  // refused when the service starts ("already used"), so say it here.
  const labels = new Map<string, string>();
  m.ports.forEach((p, i) =>
    p.endpoints.forEach((e, j) => {
      if (e.mcp == null) return;
      const at: PathSegment[] = ["ports", i, "endpoints", j, "mcp", "label"];
      const first = labels.get(e.mcp.label);
      if (first !== undefined) dup(at, first, "each MCP label once (every label is a toolkit of the room)", e.mcp.label);
      else labels.set(e.mcp.label, formatPath(at));
    }),
  );

  const agents = new Map<string, string>();
  (m.agents ?? []).forEach((a, i) => {
    const at: PathSegment[] = ["agents", i, "name"];
    const first = agents.get(a.name);
    if (first !== undefined) dup(at, first, "each agent once", a.name);
    else agents.set(a.name, formatPath(at));
  });
  return out;
}

/**
 * An agent is a participant the service brings into the room, so its name is the identity of
 * one of the service's tokens (MeshAgent's own manifests write `agents: [{name: my-chatbot}]`
 * next to `token: {identity: my-chatbot}`). An agent name no token carries would list a
 * participant that never joins — usually a typo.
 */
export function nameWarnings(m: Manifest): LocatedWarning[] {
  if (m.agents == null || m.agents.length === 0) return [];
  const identities = new Set<string>();
  // template "agent" (the default) gives the service MESHAGENT_TOKEN with its own name.
  if (m.container.template !== "none") identities.add(m.metadata.name);
  for (const e of m.container.environment ?? []) if (e.token != null) identities.add(e.token.identity);
  for (const p of m.ports) for (const e of p.endpoints) if (e.meshagent != null) identities.add(e.meshagent.identity);
  const out: LocatedWarning[] = [];
  m.agents.forEach((a, i) => {
    if (identities.has(a.name)) return;
    const segments: PathSegment[] = ["agents", i, "name"];
    const known = identities.size === 0 ? "the service gets no token (template: none, no token: entries)" : `its tokens are for ${[...identities].map((x) => JSON.stringify(x)).join(", ")}`;
    out.push({ segments, path: formatPath(segments), message: `${JSON.stringify(a.name)} is not the identity of any token this service gets (${known}): the agent would be listed but never join under that name` });
  });
  return out;
}
