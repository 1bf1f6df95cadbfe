import { pino, type Logger } from "pino";

/** JSON log lines on stderr; ROOMSERVICE_LOG_LEVEL picks the level (default info). */
export function createLogger(level = process.env.ROOMSERVICE_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { app: "roomservice" } }, pino.destination(2));
}
