import { useEffect, useRef, useState } from "react";
import type { Api } from "./api.ts";
import { LogBuffer } from "./log-buffer.ts";
import type { LogLine, Participant, RoomLive, ServiceState, Stats, StudioEvent } from "./types.ts";

/** What the room page knows live, from the room's SSE stream. */
export interface RoomStreamState {
  /** "refused": the server answered the stream with an error (4xx): it will not work by retrying. */
  connection: "connecting" | "open" | "reconnecting" | "refused";
  /** What the server said when it refused the stream (its `{error}`), else null. */
  refusal: string | null;
  live: RoomLive | null;
  events: StudioEvent[];
  /** Stats samples per service id, oldest first, bounded. */
  stats: Map<string, Stats[]>;
}

const MAX_EVENTS = 5000;
const MAX_STATS = 900; // 30 minutes at one sample per 2 s

/** Events of both lists, once each (by seq), in seq order, the newest MAX_EVENTS. */
export function mergeEvents(a: StudioEvent[], b: StudioEvent[]): StudioEvent[] {
  const bySeq = new Map<number, StudioEvent>();
  for (const e of [...a, ...b]) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((x, y) => x.seq - y.seq).slice(-MAX_EVENTS);
}

/**
 * Subscribes to `GET .../rooms/{room}/stream` (docs/studio-api.md). EventSource resumes with
 * `Last-Event-ID` by itself; after `dropped` (we fell behind) it reconnects explicitly.
 * Log lines go to a LogBuffer (not React state) so 100,000 lines never re-render the page.
 */
export function useRoomStream(api: Api, room: string): { state: RoomStreamState; logs: LogBuffer } {
  const logsRef = useRef<LogBuffer | null>(null);
  if (logsRef.current === null) logsRef.current = new LogBuffer();
  const [state, setState] = useState<RoomStreamState>({ connection: "connecting", live: null, events: [], stats: new Map(), refusal: null });

  useEffect(() => {
    const logs = logsRef.current!;
    let es: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let closed = false;
    // Seqs increase within a session; a new one may start lower (a room moved to another
    // node, a clock stepped back across a restart), so the replay check is per session.
    let lastEvent = { session: "", seq: -1 };
    // The id of the last message seen, to resume after a drop (what the server still buffers).
    let lastId: string | null = null;

    const upsertService = (live: RoomLive | null, s: ServiceState): RoomLive | null => {
      if (live === null) return live;
      const i = live.services.findIndex((x) => x.service_id === s.service_id);
      const services = i < 0 ? [...live.services, s] : live.services.map((x, j) => (j === i ? s : x));
      return { ...live, services };
    };

    // The stream sends events from now on; a page opened mid-session asks once for the ones
    // the session already had (the SDK-shaped listSessionEvents route), merged by seq.
    let backfilled: string | null = null;
    const backfill = (sessionId: string) => {
      if (backfilled === sessionId) return;
      backfilled = sessionId;
      api.get<{ events: StudioEvent[] }>(api.project(`/sessions/${encodeURIComponent(sessionId)}/events`)).then(
        ({ events }) => {
          if (!closed) setState((st) => ({ ...st, events: mergeEvents(st.events, events) }));
        },
        () => undefined, // the live stream still works; the timeline then starts at page load
      );
    };

    /**
     * The stream was answered with something other than an event stream: a 4xx is the
     * server refusing it (an invalid room name, signed out) and is shown as such; anything
     * else (a 5xx, the server restarting) is tried again shortly.
     */
    const whyClosed = async (url: string) => {
      const ctl = new AbortController();
      let refusal: string | null = null;
      try {
        const res = await fetch(url, { credentials: "same-origin", signal: ctl.signal });
        if (res.status >= 400 && res.status < 500) {
          const body = (await res.json().catch(() => ({}))) as { error?: string };
          refusal = `${body.error ?? res.statusText} (HTTP ${res.status})`;
        }
      } catch {
        // unreachable: tried again below
      } finally {
        ctl.abort(); // a 200 is an event stream that would never end
      }
      if (closed) return;
      if (refusal !== null) {
        setState((st) => ({ ...st, connection: "refused", refusal }));
        return;
      }
      retry = setTimeout(connect, 2000);
    };

    const connect = () => {
      const url = api.room(room, "/stream") + (lastId === null ? "" : `?last_event_id=${encodeURIComponent(lastId)}`);
      es = new EventSource(url, { withCredentials: true });
      es.onopen = () => setState((st) => ({ ...st, connection: "open" }));
      es.onerror = () => {
        // EventSource reconnects by itself, with Last-Event-ID; the events missed meanwhile
        // are asked for again at its next snapshot.
        backfilled = null;
        setState((st) => ({ ...st, connection: "reconnecting" }));
        // But not after an HTTP error (or a non-stream answer): it closes for good and never
        // says why. Ask once with fetch to read the server's reason.
        if (es?.readyState === EventSource.CLOSED && !closed) void whyClosed(url);
      };
      const on = <T,>(name: string, fn: (data: T) => void) =>
        es!.addEventListener(name, (e) => {
          const m = e as MessageEvent;
          if (m.lastEventId !== "") lastId = m.lastEventId;
          fn(JSON.parse(m.data) as T);
        });
      on<RoomLive>("snapshot", (live) => {
        if (live.session !== null) logs.startSession(live.session.id);
        setState((st) => ({ ...st, connection: "open", live }));
        if (live.session !== null) backfill(live.session.id);
      });
      on<ServiceState>("service", (s) => setState((st) => ({ ...st, live: upsertService(st.live, s) })));
      on<StudioEvent>("event", (ev) => {
        if (ev.session_id === lastEvent.session && ev.seq <= lastEvent.seq) return;
        lastEvent = { session: ev.session_id, seq: ev.seq };
        setState((st) => ({ ...st, events: [...st.events.slice(-(MAX_EVENTS - 1)), ev] }));
      });
      on<{ action: "joined" | "left"; participant: Participant }>("participant", (p) =>
        setState((st) => {
          if (st.live?.session == null) return st;
          const others = st.live.session.participants.filter((x) => x.id !== p.participant.id);
          const participants = p.action === "joined" ? [...others, p.participant] : others;
          return { ...st, live: { ...st.live, session: { ...st.live.session, participants } } };
        }),
      );
      on<{ action: "started" | "ended"; session_id: string; at: string }>("session", (s) => {
        // A new session's page starts with its own lines; an ended one's stay until then.
        if (s.action === "started") logs.startSession(s.session_id);
        setState((st) => {
          if (st.live === null) return st;
          const session = s.action === "started" ? { id: s.session_id, started_at: s.at, participants: [] } : null;
          return { ...st, live: { ...st.live, session } };
        });
      });
      on<Stats>("stats", (s) =>
        setState((st) => {
          const stats = new Map(st.stats);
          const prev = stats.get(s.service_id) ?? [];
          stats.set(s.service_id, [...prev.slice(-(MAX_STATS - 1)), s]);
          return { ...st, stats };
        }),
      );
      on<LogLine>("log", (l) => logs.push(l));
      on<{ reason: string }>("dropped", () => {
        // The server dropped us for falling behind: reconnect, resuming after the last
        // message seen (a fresh EventSource cannot set Last-Event-ID, so the id goes in
        // ?last_event_id=). The server catches us up from the session's kept log files; a
        // line it could not (LogBuffer counts the jumps in line_no) is reported as skipped.
        // Events missed meanwhile are asked for again (merged by seq).
        es?.close();
        backfilled = null;
        setState((st) => ({ ...st, connection: "reconnecting" }));
        if (!closed) retry = setTimeout(connect, 200);
      });
    };
    connect();
    return () => {
      closed = true;
      if (retry !== null) clearTimeout(retry);
      es?.close();
    };
  }, [api, room]);

  return { state, logs: logsRef.current };
}
