import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, linkSync, unlinkSync, existsSync } from "node:fs";
import { join } from "node:path";

/**
 * The project secret signs every participant token (HS256). MESHAGENT_SECRET wins, so the
 * SDK's `ParticipantToken.toJwt()` and the server agree by default; otherwise a secret is
 * generated once and kept (0600) in the data directory so restarts keep tokens valid.
 */
export function loadProjectSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.MESHAGENT_SECRET;
  if (fromEnv !== undefined && fromEnv.length > 0) return fromEnv;
  const file = join(dataDir, "project-secret");
  if (existsSync(file)) {
    const value = readFileSync(file, "utf8").trim();
    if (value.length < 16) throw new Error(`${file} holds a secret shorter than 16 characters; delete it to generate a new one`);
    return value;
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  writeFileSync(tmp, secret + "\n", { mode: 0o600 });
  // link(2), not rename: of several servers generating at once (cluster nodes sharing this
  // directory) exactly one secret wins and every other reads it, instead of each keeping its own.
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return loadProjectSecret(dataDir, env);
  } finally {
    unlinkSync(tmp);
  }
  return secret;
}
