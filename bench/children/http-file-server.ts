/**
 * Benchmark child: the storage baseline — a minimal node:http server with the same
 * durability as Roomservice's uploads. PUT /files/<name> streams the body to a temp file,
 * fsyncs it, renames it over the target and fsyncs the directory; GET /files/<name> streams
 * the file back with a Content-Length. Env: HF_DATA_DIR.
 */
import { createServer } from "node:http";
import { once } from "node:events";
import { createReadStream, constants as fsc } from "node:fs";
import { mkdir, open, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { serve, usage } from "../lib/rpc.ts";

const dataDir = process.env.HF_DATA_DIR;
if (!dataDir) throw new Error("HF_DATA_DIR is required");
const filesDir = join(dataDir, "files");
const tmpDir = join(dataDir, ".tmp");
await mkdir(filesDir, { recursive: true });
await mkdir(tmpDir, { recursive: true });

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const server = createServer(async (req, res) => {
  const m = /^\/files\/([A-Za-z0-9._-]+)$/.exec(req.url ?? "");
  if (m === null) {
    res.writeHead(404).end();
    return;
  }
  const target = join(filesDir, m[1]!);
  try {
    if (req.method === "PUT") {
      const tmp = join(tmpDir, `${randomUUID()}.part`);
      const fh = await open(tmp, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
      let bytes = 0;
      try {
        for await (const chunk of req) {
          await fh.write(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      await fsyncDir(filesDir);
      res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ bytes }));
      return;
    }
    if (req.method === "GET") {
      const st = await stat(target);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(st.size) });
      createReadStream(target).pipe(res);
      return;
    }
    res.writeHead(405).end();
  } catch (err) {
    if (!res.headersSent) res.writeHead(500).end(String(err));
    else res.destroy();
  }
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const port = (server.address() as { port: number }).port;

serve(
  {
    usage: (a: { gc?: boolean } | null) => usage(a?.gc === true),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  },
  { url: `http://127.0.0.1:${port}`, pid: process.pid },
);
