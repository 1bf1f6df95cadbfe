import type { Logger } from "pino";
import type { Clock, Limits } from "./config.ts";
import type { SessionStore, RoomSettingsStore } from "./store/sessions.ts";
import type { Store } from "./store/db.ts";

/** Everything a request handler may need, passed explicitly instead of module globals. */
export interface ServerContext {
  projectId: string;
  secret: string;
  dataDir: string;
  clock: Clock;
  limits: Limits;
  logger: Logger;
  store: Store;
  sessions: SessionStore;
  roomSettings: RoomSettingsStore;
  departureTimeoutMs: number;
  /** The public base URL (http/public-url.ts), when the operator set one; URLs handed to clients use it. */
  publicUrl?: string;
  /** Where rooms live (`<room>/storage`, kept logs): `<data>/rooms`, or the shared directory in a cluster. */
  roomsDir?: string;
}
