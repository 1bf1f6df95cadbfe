/**
 * The node side of the Room API gateway (kube runtime). Each room's Pod runs a sidecar
 * (gateway-image/gateway.js) listening on the Pod's 127.0.0.1:8078; for every connection a
 * service opens there, the sidecar dials this listener and sends one line, `RSGW1 <key>\n`,
 * where the key is the session's random secret (in the Pod only as a Secret file). A known key
 * gets `OK\n` and the socket goes to that session's `onSocket` — the server's HTTP server,
 * as with the namespace listeners of docker and sandbox; anything else is closed. The sidecar
 * sends nothing more before the `OK`, so no byte of the Room API traffic is read here.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import net, { type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Logger } from "../types.ts";
import type { GatewayTarget } from "./manifest.ts";

/** Where the gateway listens: TCP (a cluster: Pods dial the node) or a unix socket (one machine). */
export type GatewayListen =
  | { kind: "tcp"; host: string; port: number; /** the address Pods dial, when not `host` (a NAT, a Service) */ advertiseHost?: string }
  | { kind: "unix"; dir: string };

const HELLO = "RSGW1 ";
const MAX_HELLO_BYTES = 256;
const HELLO_TIMEOUT_MS = 10_000;

/** Lifecycle: `closed` is terminal. */
type GatewayState = { kind: "idle" } | { kind: "listening"; server: Server; target: GatewayTarget } | { kind: "closed" };

export class PodGateway {
  private readonly listen: GatewayListen;
  private readonly log: Logger;
  private state: GatewayState = { kind: "idle" };
  private starting: Promise<GatewayTarget> | null = null;
  private readonly sessions = new Map<string, (s: Socket) => void>();

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

  /** A new random key for one session; its sidecar's sockets go to `onSocket` until `unregister`. */
  register(onSocket: (s: Socket) => void): { key: string; unregister(): void } {
    const key = randomBytes(24).toString("base64url");
    this.sessions.set(key, onSocket);
    return { key, unregister: () => void this.sessions.delete(key) };
  }

  private lookup(key: string): ((s: Socket) => void) | undefined {
    const k = Buffer.from(key);
    for (const [known, fn] of this.sessions) {
      const b = Buffer.from(known);
      if (b.length === k.length && timingSafeEqual(b, k)) return fn;
    }
    return undefined;
  }

  private accept(sock: Socket): void {
    let buf = Buffer.alloc(0);
    const fail = (why: string) => {
      clearTimeout(timer);
      this.log.warn({ why }, "pod gateway refused a connection");
      sock.destroy();
    };
    const timer = setTimeout(() => fail("no hello line in time"), HELLO_TIMEOUT_MS);
    sock.on("error", () => sock.destroy());
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_HELLO_BYTES) fail("hello line too long");
        return;
      }
      clearTimeout(timer);
      sock.removeListener("data", onData);
      sock.pause();
      const line = buf.subarray(0, nl).toString("latin1");
      if (buf.length > nl + 1) return fail("data before the OK");
      if (!line.startsWith(HELLO)) return fail("not a gateway hello");
      const onSocket = this.lookup(line.slice(HELLO.length));
      if (onSocket === undefined) return fail("unknown session key");
      sock.write("OK\n");
      onSocket(sock);
    };
    sock.on("data", onData);
  }

  async close(): Promise<void> {
    const st = this.state;
    this.state = { kind: "closed" };
    this.sessions.clear();
    if (st.kind === "listening") {
      await new Promise<void>((r) => st.server.close(() => r()));
      if (st.target.kind === "unix") await rm(join(st.target.hostDir, st.target.socketName), { force: true });
    }
  }
}
