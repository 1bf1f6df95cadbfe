export { startRoomServer, type RoomServer } from "./server.ts";
export { DEFAULT_LIMITS, DEFAULT_DEPARTURE_TIMEOUT_MS, DEFAULT_PORT, DEFAULT_HOST, systemClock } from "./config.ts";
export type { Limits, Clock, ServerOptions } from "./config.ts";
export { mintParticipantToken, verifyParticipantToken, defaultApiScope, parseDuration, AuthError, ROLES } from "./auth/tokens.ts";
export type { Principal, Role } from "./auth/tokens.ts";
export { loadProjectSecret } from "./auth/secret.ts";
export type { RoomEvent, Session } from "./rooms/room.ts";
