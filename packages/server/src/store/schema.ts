import type { Generated } from "kysely";

/**
 * The control plane's tables as Kysely sees them: one description for both dialects.
 * Timestamps are integer milliseconds since the epoch (SQLite INTEGER, PostgreSQL BIGINT,
 * which the pg pool parses to number); JSON documents are TEXT in both, so rows read back
 * byte-identical whichever database holds them. Columns must match store/migrations.ts.
 */
export interface Database {
  sessions: SessionsTable;
  room_settings: RoomSettingsTable;
  services: ServicesTable;
  service_versions: ServiceVersionsTable;
  service_sources: ServiceSourcesTable;
  secrets: SecretsTable;
  api_keys: ApiKeysTable;
  llm_upstreams: LlmUpstreamsTable;
  llm_usage: LlmUsageTable;
  rooms: RoomsTable;
  session_events: SessionEventsTable;
  session_participants: SessionParticipantsTable;
  session_stats: SessionStatsTable;
  browser_sessions: BrowserSessionsTable;
  login_codes: LoginCodesTable;
  installation_state: InstallationStateTable;
}

export interface SessionsTable {
  id: string;
  room: string;
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  /** JSON array of participant names. */
  participants: Generated<string>;
}

export interface RoomSettingsTable {
  room: string;
  departure_timeout_ms: number | null;
  updated_at: number;
}

export interface ServicesTable {
  id: string;
  project: string;
  room: string | null;
  name: string;
  /** The manifest as JSON text. */
  spec: string;
  version: number;
  created_at: number;
  updated_at: number;
}

export interface ServiceVersionsTable {
  service_id: string;
  version: number;
  spec: string;
  created_at: number;
}

/** The YAML text of a service's version `version`, as an editor saved it (comments kept). */
export interface ServiceSourcesTable {
  service_id: string;
  version: number;
  yaml: string;
  updated_at: number;
}

export interface SecretsTable {
  id: string;
  project: string;
  room: string | null;
  name: string;
  type: string;
  /** iv(12) | tag(16) | AES-256-GCM body: see services/secret-store.ts. */
  ciphertext: Uint8Array;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  project: string;
  name: string;
  secret_hash: string;
  created_at: number;
  description: Generated<string>;
}

export interface LlmUpstreamsTable {
  project: string;
  base_url: string;
  api_key_secret: string | null;
  updated_at: number;
}

export interface LlmUsageTable {
  project: string;
  room: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  last_used_at: number;
}

export interface RoomsTable {
  name: string;
  metadata: Generated<string>;
  annotations: Generated<string>;
  created_at: number;
}

export interface SessionEventsTable {
  session_id: string;
  seq: number;
  at: number;
  kind: string;
  type: string;
  reason: string;
  message: string;
  service_id: string | null;
  service_name: string | null;
  /** JSON ParticipantRef. */
  participant: string | null;
}

/**
 * `rowid` is SQLite's implicit row id and, in PostgreSQL, a BIGSERIAL column of that name:
 * both give insertion order, so "ORDER BY joined_at, rowid" is one query for both dialects.
 */
export interface SessionParticipantsTable {
  session_id: string;
  participant_id: string;
  name: string;
  role: string;
  joined_at: number;
  left_at: number | null;
  rowid: Generated<number>;
}

export interface SessionStatsTable {
  session_id: string;
  service_id: string;
  service_name: string;
  at: number;
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number | null;
  cpu_limit_cores: number | null;
  rowid: Generated<number>;
}

/**
 * A Studio sign-in session (migration 6), stored when clustered so any node accepts the
 * cookie. `id_hash`: SHA-256 hex of the cookie value (the value itself is never stored).
 * Times in ms; `expires_at` is the absolute end (sign-in + the absolute lifetime).
 */
export interface BrowserSessionsTable {
  id_hash: string;
  identity: string;
  api_key_id: string | null;
  csrf_token: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

/** A one-time Studio login code by SHA-256 hex; `expires_at` in ms. */
export interface LoginCodesTable {
  code_hash: string;
  expires_at: number;
}

/** Small JSON documents an installation keeps once (e.g. `demo`: the demo room's marker). */
export interface InstallationStateTable {
  name: string;
  value: string;
  updated_at: number;
}
