/** Shapes of the Studio REST + SSE contract (docs/studio-api.md). JSON is snake_case. */

// The stream and session shapes are shared with the server and the CLI (one definition, in
// @roomservice/protocol); the local names are Studio's.
export type {
  StudioServiceStateName as ServiceStateName, ActivityEvent as StudioEvent, ActivityLogLine as LogLine,
  StatsSample as Stats, ServiceState, Participant, RoomLive,
} from "@roomservice/protocol";

export interface RoomInfo {
  id?: string;
  name: string;
  live?: null | { session_id: string; started_at: string; participants: number; health: "ready" | "starting" | "unhealthy" | "failed" | "none" | "unknown" };
}

export interface SessionInfo {
  id: string;
  room_name: string;
  created_at: string;
  is_active: boolean;
  ended_at?: string | null;
  end_reason?: string | null;
  /** A count (SDK shape) or the identities seen (Roomservice). */
  participants?: number | string[];
  participants_detail?: { id: string; name: string; role: string; joined_at: string; left_at: string | null }[];
  services?: { id: string; name: string }[];
}

/**
 * A stored service: its manifest plus id, revision and scope (GET .../services). `version`
 * is the manifest's own format version ("v1"); `revision` counts edits (1, 2, …).
 */
export interface ServiceRecord {
  id: string;
  version?: string;
  revision: number;
  room: string | null;
  created_at: string;
  updated_at: string;
  enabled?: boolean;
  metadata: { name: string; description?: string };
  container: { image: string; command?: string | string[]; environment?: EnvVar[]; storage?: { room?: { path: string; subpath?: string; read_only?: boolean }[] } };
  ports?: { num: number; type?: string; liveness?: string }[];
  roomservice?: Record<string, unknown>;
  /** Set when an earlier release stored a name the current rules refuse (what to run to fix it). */
  warnings?: { path: string; message: string }[];
  [key: string]: unknown;
}

export type EnvVar =
  | { name: string; value: string }
  | { name: string; secret: { id: string; key?: string } }
  | { name: string; token: { identity: string; role?: string; api?: Record<string, unknown> } };

export interface SecretInfo {
  id: string;
  name: string;
  type: string;
  room: string | null;
  created_at: string;
  updated_at: string;
}

/** A located manifest error from the validate route. */
export interface ManifestError {
  path: string;
  message: string;
  expected?: string;
  got?: string;
  line?: number;
  column?: number;
}
