import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../..", import.meta.url));

/** Builds Studio when missing or stale (scripts/ensure-studio.sh; instant when up to date). */
export function ensureStudioBuilt(): void {
  const r = spawnSync("bash", ["-c", `ROOMSERVICE_ROOT="${root}"; source "${root}/scripts/ensure-studio.sh"`], { cwd: root, encoding: "utf8", stdio: ["ignore", "inherit", "pipe"] });
  if (r.status !== 0) throw new Error(`building Studio failed: ${r.stderr}`);
}
