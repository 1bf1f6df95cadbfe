import type { ManifestError } from "./types.ts";

/** The signed-in browser session (GET/POST /auth/session). */
export interface AuthSession {
  /** Who signed in: `apikey:<name>` for an API key, `admin` for a sign-in link. */
  identity: string;
  /**
   * The name this user has in rooms (participant name, thread member, `author_name`): the
   * API key's name. Shown wherever Studio means "you".
   */
  participant_name: string;
  project_id: string;
  csrf_token: string;
}

/** A failed REST call: the server's `{error, code?, errors?}` with the HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly errors: ManifestError[];
  constructor(status: number, message: string, code?: string, errors: ManifestError[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = errors;
  }
}

/**
 * REST client for one signed-in session. The API key never reaches the page after sign-in:
 * requests ride on the HttpOnly `rs_session` cookie, and every unsafe method carries the
 * session's CSRF token in `X-CSRF-Token` (docs/studio-api.md).
 */
export class Api {
  readonly session: AuthSession;
  /** The signed-in user's name in rooms (see AuthSession.participant_name). */
  get me(): string {
    return this.session.participant_name;
  }
  constructor(session: AuthSession) {
    this.session = session;
  }

  /** `/accounts/projects/{p}` + path. */
  project(path: string): string {
    return `/accounts/projects/${encodeURIComponent(this.session.project_id)}${path}`;
  }

  room(room: string, path = ""): string {
    return this.project(`/rooms/${encodeURIComponent(room)}${path}`);
  }

  async request<T>(method: string, url: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = this.session.csrf_token;
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
    return readResponse<T>(res);
  }

  get<T>(url: string): Promise<T> {
    return this.request<T>("GET", url);
  }
  post<T>(url: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", url, body ?? {});
  }
  put<T>(url: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", url, body);
  }
  delete<T>(url: string): Promise<T> {
    return this.request<T>("DELETE", url);
  }
}

async function readResponse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let json: unknown = undefined;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (!res.ok) {
    const b = (json ?? {}) as { error?: string; message?: string; code?: string; errors?: ManifestError[] };
    throw new ApiError(res.status, b.error ?? b.message ?? `${res.status} ${res.statusText}`, b.code, b.errors ?? []);
  }
  return json as T;
}

/** GET /auth/session: the current session, or null when signed out (401). */
export async function currentSession(): Promise<AuthSession | null> {
  const res = await fetch("/auth/session", { credentials: "same-origin" });
  if (res.status === 401) return null;
  return readResponse<AuthSession>(res);
}

/** POST /auth/session with an API key or a one-time login code. */
export async function signIn(body: { api_key: string } | { login: string }): Promise<AuthSession> {
  const res = await fetch("/auth/session", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  return readResponse<AuthSession>(res);
}

export async function signOut(session: AuthSession): Promise<void> {
  await fetch("/auth/session", { method: "DELETE", headers: { "x-csrf-token": session.csrf_token }, credentials: "same-origin" });
}

/** Human-readable message of any thrown value. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
