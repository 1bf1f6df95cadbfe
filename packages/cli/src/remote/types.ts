/**
 * The REST shapes the CLI reads, as docs/studio-api.md specifies them (snake_case JSON).
 * Only the fields the CLI uses are listed; the server may send more.
 */
// The stream and session shapes are shared with the server and Studio (@roomservice/protocol).
export type { ServiceState, Participant, RoomLive, ActivityEvent as RoomEventJson, ActivityLogLine as LogLine } from "@roomservice/protocol";

export interface RoomJson {
  id: string;
  name: string;
  live?: null | { session_id: string; started_at: string; participants: number; health: string };
}

/** A recorded session, whichever spelling the server uses (item 28 moves it to snake_case). */
export interface SessionRow {
  id: string;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  participants: string[];
}

/** Reads `GET .../rooms/{room}/sessions` rows in either spelling. */
export function sessionRow(r: Record<string, unknown>): SessionRow {
  const time = (v: unknown): string | null => (typeof v === "number" ? new Date(v).toISOString() : typeof v === "string" ? v : null);
  const parts = r.participants;
  return {
    id: String(r.id),
    started_at: time(r.started_at ?? r.created_at ?? r.startedAt) ?? "",
    ended_at: time(r.ended_at ?? r.endedAt),
    end_reason: (r.end_reason ?? r.endReason ?? null) as string | null,
    participants: Array.isArray(parts) ? parts.map((p) => (typeof p === "string" ? p : String((p as { name?: unknown }).name ?? p))) : [],
  };
}
