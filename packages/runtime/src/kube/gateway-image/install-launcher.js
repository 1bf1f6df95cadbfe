// The Pod's init container (kube runtime): copies the envexec launcher (docker/envexec.ts,
// built into this image as /app/envexec) into the Pod's shared emptyDir volume, where every
// service container runs it as its command: it exports the session's values from the Secret's
// files and stays PID 1 forwarding stop signals to the command's process group.
import fs from "node:fs";

const dest = process.argv[2] ?? "/run/roomservice/envexec";
fs.copyFileSync("/app/envexec", `${dest}.tmp`);
fs.chmodSync(`${dest}.tmp`, 0o555);
fs.renameSync(`${dest}.tmp`, dest);
console.log(`launcher installed at ${dest}`);
