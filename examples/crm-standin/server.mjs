// A stand-in for a third-party CRM API, run as a second service in the same room so the
// example works offline: it refuses any request without the right bearer key. It knows only
// the key's SHA-256 (CRM_KEY_SHA256), never the key itself.
import http from "node:http";
import { createHash, timingSafeEqual } from "node:crypto";

const COMPANIES = [
  { id: "c-1", name: "ACME Corporation", industry: "manufacturing", owner: "Dana Whitfield", open_deals: 3, pipeline_usd: 182000 },
  { id: "c-2", name: "Globex", industry: "energy", owner: "Hank Scorpio", open_deals: 1, pipeline_usd: 54000 },
  { id: "c-3", name: "Initech", industry: "software", owner: "Bill Lumbergh", open_deals: 0, pipeline_usd: 0 },
];
const expected = Buffer.from(process.env.CRM_KEY_SHA256 ?? "", "hex");

function authorized(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
  if (!m || expected.length !== 32) return false;
  return timingSafeEqual(createHash("sha256").update(m[1]).digest(), expected);
}

let refused = 0;
http.createServer((req, res) => {
  const url = new URL(req.url, "http://crm");
  res.setHeader("content-type", "application/json");
  if (url.pathname === "/healthz") return res.end(JSON.stringify({ ok: true, refused }));
  if (!authorized(req)) {
    refused++;
    console.log(`refused ${req.method} ${url.pathname}: bad or missing key`);
    res.statusCode = 401;
    return res.end(JSON.stringify({ error: "invalid API key" }));
  }
  if (url.pathname === "/companies") {
    const q = (url.searchParams.get("q") ?? "").toLowerCase();
    return res.end(JSON.stringify({ companies: COMPANIES.filter((c) => c.name.toLowerCase().includes(q)) }));
  }
  res.statusCode = 404;
  res.end(JSON.stringify({ error: "not found" }));
}).listen(Number(process.env.PORT ?? 9100), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
