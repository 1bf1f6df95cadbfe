// An integration-shaped service: reads its API key from /run/secrets (and env when the
// manifest asks) and serves what it found, so tests can check scoping and masking.
import http from "node:http";
import { readFileSync, readdirSync } from "node:fs";

const files = (() => { try { return readdirSync("/run/secrets"); } catch { return []; } })();
const read = (n) => { try { return readFileSync(`/run/secrets/${n}`, "utf8"); } catch (e) { return null; } };
// Printing a secret is a mistake services make; Roomservice must mask it in every log view.
console.log(`API_KEY from env is ${process.env.API_KEY ?? "(unset)"}`);
http.createServer((req, res) => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ files, file: read("API_KEY"), env: process.env.API_KEY ?? null }));
}).listen(Number(process.env.PORT ?? 8081), "0.0.0.0");
process.on("SIGTERM", () => process.exit(0));
