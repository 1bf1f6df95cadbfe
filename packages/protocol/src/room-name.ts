/**
 * Room names: the `/rooms/{room}` path segment of the WebSocket and REST URLs, and a
 * directory name on the server. Pure so that clients (the CLI) check names with the same rule
 * as the server without loading it.
 */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** null when `name` is a valid room name, else what is wrong and the rule. */
export function roomNameError(name: string): string | null {
  if (ROOM_NAME_PATTERN.test(name) && !name.includes("..")) return null;
  return `invalid room name ${JSON.stringify(name.slice(0, 140))}: use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`;
}
