/**
 * The node side of the Room API gateway (kube runtime). Each room's Pod runs a sidecar
 * (gateway-image/gateway.js) listening on the Pod's 127.0.0.1:8078; for every connection a
 * service opens there, the sidecar dials this listener and sends one line, `RSGW1 <key>\n`,
 * where the key is the session's random secret (in the Pod only as a Secret file). A known key
 * gets `OK\n` and the socket goes to that session's `onSocket` — the server's HTTP server,
 * as with the namespace listeners of docker and sandbox; anything else is closed. The sidecar
 * sends nothing more before the `OK`, so no byte of the Room API traffic is read here.
 *
 * The other direction (the server connecting to a service's port, for the MCP bridge): the
 * sidecar keeps a control connection (`RSGW1 <key> control`); `connect(port)` sends
 * `CONNECT <id> <port>` on it, and the sidecar connects to the Pod's 127.0.0.1:<port> and dials
 * back with `RSGW1 <key> data <id>` (or answers `FAIL <id> <reason>`).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readdir, rm, rmdir } from "node:fs/promises";
import net, { type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Logger, ServiceConnector } from "../types.ts";
import type { GatewayTarget } from "./manifest.ts";

/** Where the gateway listens: TCP (a cluster: Pods dial the node) or a unix socket (one machine). */
export type GatewayListen =
  | { kind: "tcp"; host: string; port: number; /** the address Pods dial, when not `host` (a NAT, a Service) */ advertiseHost?: string }
  | { kind: "unix"; dir: string };

const HELLO = "RSGW1 ";
const MAX_HELLO_BYTES = 256;
const HELLO_TIMEOUT_MS = 10_000;
/** Connections still owing their hello line; more are refused (a port scan or a flood cannot pile up). */
const MAX_UNAUTHENTICATED = 256;

/** One session's sidecar: where its Room API sockets go, its control connection, its pending connects. */
interface SessionRoute {
  onSocket: (s: Socket) => void;
  control: Socket | null;
  /** Waiting for a control connection (a Pod that is still starting). */
  controlWaiters: (() => void)[];
  pending: Map<number, { resolve: (s: Socket) => void; reject: (e: Error) => void }>;
}

/** Lifecycle: `closed` is terminal. */
type GatewayState = { kind: "idle" } | { kind: "listening"; server: Server; target: GatewayTarget } | { kind: "closed" };

export class PodGateway {
  private readonly listen: GatewayListen;
  private readonly log: Logger;
  private state: GatewayState = { kind: "idle" };
  private starting: Promise<GatewayTarget> | null = null;
  private readonly sessions = new Map<string, SessionRoute>();
  private nextId = 1;
  private unauthenticated = 0;

  constructor(listen: GatewayListen, log: Logger) {
    this.listen = listen;
    this.log = log;
  }

  /** Starts listening (once); resolves with what a Pod's sidecar must dial. */
  start(): Promise<GatewayTarget> {
    this.starting ??= this.doStart().catch((err) => {
      this.starting = null;
      throw err;
    });
    return this.starting;
  }

  private async doStart(): Promise<GatewayTarget> {
    if (this.state.kind === "closed") throw new Error("the pod gateway is closed");
    const server = net.createServer((s) => this.accept(s));
    let target: GatewayTarget;
    if (this.listen.kind === "tcp") {
      const l = this.listen;
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(l.port, l.host, () => resolve()));
      const addr = server.address() as net.AddressInfo;
      target = { kind: "tcp", host: l.advertiseHost ?? l.host, port: addr.port };
    } else {
      await mkdir(this.listen.dir, { recursive: true, mode: 0o755 });
      await this.removeStaleSockets(this.listen.dir);
      // Unique per process: a second runtime of the same owner (a restart while the old one dies) must not unlink ours.
      const socketName = `gw-${process.pid}-${randomBytes(4).toString("hex")}.sock`;
      const path = join(this.listen.dir, socketName);
      await rm(path, { force: true });
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(path, () => resolve()));
      target = { kind: "unix", hostDir: this.listen.dir, socketName };
    }
    this.state = { kind: "listening", server, target };
    return target;
  }

  /** Sockets a killed earlier run left in the unix socket directory (reapOrphans calls this). */
  async reapStaleSockets(): Promise<void> {
    if (this.listen.kind === "unix") await this.removeStaleSockets(this.listen.dir);
  }

  /** Sockets of runs that died without closing (gw-<pid>-…): removed when that pid is gone. */
  private async removeStaleSockets(dir: string): Promise<void> {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const m = /^gw-(\d+)-[0-9a-f]+\.sock$/.exec(name);
      if (m === null) continue;
      try {
        process.kill(Number(m[1]), 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ESRCH") await rm(join(dir, name), { force: true });
      }
    }
  }

  /**
   * A new random key for one session; its sidecar's Room API sockets go to `onSocket` until
   * `unregister`, and `connector` opens connections into its Pod.
   */
  register(onSocket: (s: Socket) => void): { key: string; unregister(): void; connector: ServiceConnector } {
    const key = randomBytes(24).toString("base64url");
    const route: SessionRoute = { onSocket, control: null, controlWaiters: [], pending: new Map() };
    this.sessions.set(key, route);
    const unregister = () => {
      if (this.sessions.get(key) !== route) return;
      this.sessions.delete(key);
      route.control?.destroy();
      route.control = null;
      for (const w of route.controlWaiters.splice(0)) w();
      for (const p of route.pending.values()) p.reject(new Error("the room's Pod is gone"));
      route.pending.clear();
    };
    return { key, unregister, connector: { connect: (port, timeoutMs) => this.connect(route, port, timeoutMs), close: () => {} } };
  }

  private async connect(route: SessionRoute, port: number, timeoutMs = 5000): Promise<Socket> {
    if (!this.isRoute(route)) throw new Error("the room's Pod is gone");
    const deadline = Date.now() + timeoutMs;
    while (route.control === null) {
      if (!this.isRoute(route)) throw new Error("the room's Pod is gone");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the room's gateway sidecar has not connected within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        route.controlWaiters.push(() => (clearTimeout(t), r()));
      });
    }
    const id = this.nextId++;
    return new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error(`connecting to port ${port} in the room's Pod timed out after ${timeoutMs} ms`)), Math.max(1, deadline - Date.now()));
      const settle = (r: Socket | Error) => {
        clearTimeout(timer);
        if (!route.pending.delete(id)) {
          if (!(r instanceof Error)) r.destroy(); // a late socket nobody waits for
          return;
        }
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      route.pending.set(id, { resolve: settle, reject: settle });
      route.control!.write(`CONNECT ${id} ${port}\n`);
    });
  }

  private isRoute(route: SessionRoute): boolean {
    for (const r of this.sessions.values()) if (r === route) return true;
    return false;
  }

  private lookup(key: string): SessionRoute | undefined {
    const k = Buffer.from(key);
    for (const [known, route] of this.sessions) {
      const b = Buffer.from(known);
      if (b.length === k.length && timingSafeEqual(b, k)) return route;
    }
    return undefined;
  }

  /** The sidecar's control connection: FAIL lines for connects it could not make. */
  private attachControl(route: SessionRoute, sock: Socket): void {
    route.control?.destroy();
    route.control = sock;
    for (const w of route.controlWaiters.splice(0)) w();
    let buf = "";
    sock.setEncoding("latin1");
    sock.on("data", (c: string) => {
      buf += c;
      if (buf.length > 4096) return sock.destroy();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const [verb, id, ...why] = buf.slice(0, nl).split(" ");
        buf = buf.slice(nl + 1);
        if (verb === "FAIL") route.pending.get(Number(id))?.reject(new Error(`the room's Pod refused the connection: ${why.join(" ")}`));
      }
    });
    sock.on("close", () => {
      if (route.control === sock) route.control = null;
    });
  }

  private accept(sock: Socket): void {
    if (this.unauthenticated >= MAX_UNAUTHENTICATED) {
      this.log.warn({ limit: MAX_UNAUTHENTICATED }, "pod gateway: too many connections without a hello; refusing");
      sock.destroy();
      return;
    }
    this.unauthenticated++;
    let counted = true;
    const settled = () => {
      if (counted) this.unauthenticated--;
      counted = false;
    };
    let buf = Buffer.alloc(0);
    const fail = (why: string) => {
      clearTimeout(timer);
      settled();
      this.log.warn({ why }, "pod gateway refused a connection");
      sock.destroy();
    };
    const timer = setTimeout(() => fail("no hello line in time"), HELLO_TIMEOUT_MS);
    sock.once("close", settled);
    sock.on("error", () => sock.destroy());
    // Read with 'readable' + read(), not 'data' + pause(): once the listener is removed the
    // stream is back to its initial state (readableFlowing null), so whoever takes the socket
    // (the HTTP server, an HTTP client) starts it by listening, as with a fresh socket.
    const onReadable = () => {
      for (let c = sock.read() as Buffer | null; c !== null; c = sock.read() as Buffer | null) {
        buf = Buffer.concat([buf, c]);
        const nl = buf.indexOf(10);
        if (nl < 0) {
          if (buf.length > MAX_HELLO_BYTES) return fail("hello line too long");
          continue;
        }
        clearTimeout(timer);
        settled();
        sock.removeListener("readable", onReadable);
        if (buf.length > nl + 1) return fail("data before the OK");
        return this.route(sock, buf.subarray(0, nl).toString("latin1"), fail);
      }
    };
    sock.on("readable", onReadable);
  }

  private route(sock: Socket, line: string, fail: (why: string) => void): void {
    if (!line.startsWith(HELLO)) return fail("not a gateway hello");
    const [key = "", kind, id] = line.slice(HELLO.length).split(" ");
    const route = this.lookup(key);
    if (route === undefined) return fail("unknown session key");
    if (kind === undefined) {
      sock.write("OK\n");
      route.onSocket(sock);
    } else if (kind === "control") {
      sock.write("OK\n");
      this.attachControl(route, sock);
    } else if (kind === "data" && id !== undefined && route.pending.has(Number(id))) {
      sock.write("OK\n");
      route.pending.get(Number(id))!.resolve(sock);
    } else {
      fail(`unexpected hello ${JSON.stringify(kind)}`);
    }
  }

  async close(): Promise<void> {
    const st = this.state;
    this.state = { kind: "closed" };
    this.sessions.clear();
    if (st.kind === "listening") {
      await new Promise<void>((r) => st.server.close(() => r()));
      if (st.target.kind === "unix") {
        await rm(join(st.target.hostDir, st.target.socketName), { force: true });
        await rmdir(st.target.hostDir).catch(() => {}); // only when empty: another run may still use it
      }
    }
  }
}
