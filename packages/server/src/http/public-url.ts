/**
 * The address clients reach this server at, for URLs the server hands out (`connect`'s
 * `room_url`, `room_ready.room_url`, storage `download_url`). Behind a TLS-terminating proxy
 * the Host header says nothing about the scheme, so an HTTPS deployment sets the public base
 * URL (`serve --public-url`, env ROOMSERVICE_PUBLIC_URL, ServerOptions.publicUrl); without it
 * URLs are built from the Host header with http/ws, which is right for direct connections.
 */

/**
 * Checks and normalizes a public base URL: `http(s)://host[:port][/prefix]`, no query,
 * fragment or credentials; the trailing slash is dropped. Throws naming `source` and what
 * was expected.
 */
export function parsePublicUrl(raw: string, source: string): string {
  const bad = (why: string) => new Error(`${source}: ${why} (expected a base URL such as https://rooms.example.com or https://example.com/roomservice, got ${JSON.stringify(raw)})`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad("not a URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw bad(`scheme ${u.protocol.replace(/:$/, "")} is not http or https`);
  if (u.username !== "" || u.password !== "") throw bad("credentials do not belong in a public URL");
  if (u.search !== "" || u.hash !== "") throw bad("no query or fragment allowed");
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

/** http(s) base URL for a request that arrived with `host` (the public one when configured). */
export function externalHttpBase(publicUrl: string | undefined, host: string | undefined): string {
  return publicUrl ?? `http://${host ?? "127.0.0.1"}`;
}

/** The ws(s) URL of a room under an http(s) base. */
export function roomWsUrl(httpBase: string, room: string): string {
  return `${httpBase.replace(/^http/, "ws")}/rooms/${encodeURIComponent(room)}`;
}
