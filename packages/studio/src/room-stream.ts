import { useEffect, useRef, useState } from "react";
import { ApiError, errorText, type Api } from "./api.ts";
import { LogBuffer } from "./log-buffer.ts";
import type { LogLine, Participant, RoomLive, ServiceState, Stats, StudioEvent } from "./types.ts";

/** What the room page knows live, from the room's SSE stream. */
export interface RoomStreamState {
  /** `failed`: the server refused the stream (an invalid room name, signed out): see `error`. */
  connection: "connecting" | "open" | "reconnecting" | "failed";
  /** Why the stream was refused (the server's own words), when `failed`. */
  error: string | null;
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
 * Samples of both lists, once each (by `at`), oldest first, the newest MAX_STATS: live
 * samples and those asked for after a reconnect (listSessionMetrics) may overlap.
 */
export function mergeStats(a: Stats[], b: Stats[]): Stats[] {
  if (b.length === 0) return a;
  const byAt = new Map<string, Stats>();
  for (const s of a) byAt.set(s.at, s);
  for (const s of b) byAt.set(s.at, s);
  return [...byAt.values()].sort((x, y) => Date.parse(x.at) - Date.parse(y.at)).slice(-MAX_STATS);
}

/**
 * Subscribes to `GET .../rooms/{room}/stream` (docs/studio-api.md). EventSource resumes with
 * `Last-Event-ID` by itself; after `dropped` (we fell behind) it reconnects explicitly.
 * Log lines go to a LogBuffer (not React state) so 100,000 lines never re-render the page.
 */
export function useRoomStream(api: Api, room: string): { state: RoomStreamState; logs: LogBuffer } {
  const logsRef = useRef<LogBuffer | null>(null);
  if (logsRef.current === null) logsRef.current = new LogBuffer();
  const [state, setState] = useState<RoomStreamState>({ connection: "connecting", error: null, live: null, events: [], stats: new Map() });

  useEffect(() => {
    const logs = logsRef.current!;
    let es: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let closed = false;
    // Seqs increase within a session; a new one may start lower (a room moved to another
    // node, a clock stepped back across a restart), so the replay check is per session.
    let lastEvent = { session: "", seq: -1 };
    /** Refused connects in a row (backoff). */
    let refusals = 0;
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

    // Stats samples are not resent by a stream that reconnects (only log lines are caught
    // up). As LogBuffer does with `line_no`, each service's `sample_no` is followed: a jump
    // means samples were missed, and they are asked for (listSessionMetrics, `after` the
    // newest sample the page has, `limit` MAX_STATS) and merged by time, so the chart has no
    // hole. Every snapshot (first connect, each reconnect) asks too, which also gives a page
    // opened mid-session the session's earlier samples. One request per service at a time;
    // a reason to ask during one makes exactly one more after it.
    let stats = new Map<string, Stats[]>();
    const lastNo = new Map<string, number>();
    const asking = new Map<string, "asking" | "again">();
    const backfillService = (sessionId: string, serviceId: string) => {
      if (closed) return;
      if (asking.has(serviceId)) {
        asking.set(serviceId, "again");
        return;
      }
      asking.set(serviceId, "asking");
      const have = (stats.get(serviceId) ?? []).filter((x) => x.session_id === sessionId);
      const last = have[have.length - 1]?.at;
      const q = new URLSearchParams({ service: serviceId, limit: String(MAX_STATS), ...(last === undefined ? {} : { after: last }) });
      api.get<{ metrics: Stats[] }>(api.project(`/sessions/${encodeURIComponent(sessionId)}/metrics?${q}`)).then(
        ({ metrics }) => {
          if (closed || metrics.length === 0) return;
          const next = new Map(stats);
          next.set(serviceId, mergeStats(next.get(serviceId) ?? [], metrics));
          stats = next;
          setState((st) => ({ ...st, stats }));
        },
        () => undefined, // the live samples still come; the chart then has its hole
      ).finally(() => {
        const again = asking.get(serviceId) === "again";
        asking.delete(serviceId);
        if (again) backfillService(sessionId, serviceId);
      });
    };
    const backfillStats = (live: RoomLive) => {
      const sessionId = live.session?.id;
      if (sessionId === undefined) return;
      for (const svc of live.services) backfillService(sessionId, svc.service_id);
    };

    const connect = () => {
      const url = api.room(room, "/stream") + (lastId === null ? "" : `?last_event_id=${encodeURIComponent(lastId)}`);
      es = new EventSource(url, { withCredentials: true });
      es.onopen = () => {
        refusals = 0;
        setState((st) => ({ ...st, connection: "open", error: null }));
      };
      const self = es;
      es.onerror = () => {
        // EventSource reconnects by itself, with Last-Event-ID; the events missed meanwhile
        // are asked for again at its next snapshot.
        backfilled = null;
        setState((st) => ({ ...st, connection: "reconnecting" }));
        // ...except after an answer other than 200 (a 400 for an invalid room name, a 401 once
        // signed out, a 5xx while the server starts): then it gives up. Ask the room's live
        // state why; a refusal is shown, anything else is tried again (backing off to 10 s).
        if (self.readyState !== EventSource.CLOSED || closed) return;
        api.get<RoomLive>(api.room(room, "/live")).then(
          () => {
            if (closed) return;
            refusals++;
            retry = setTimeout(connect, Math.min(10_000, 500 * 2 ** refusals));
          },
          (err: unknown) => {
            if (closed) return;
            if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 404) {
              setState((st) => ({ ...st, connection: "failed", error: errorText(err) }));
            } else {
              refusals++;
              retry = setTimeout(connect, Math.min(10_000, 500 * 2 ** refusals));
            }
          },
        );
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
        backfillStats(live);
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
      on<Stats>("stats", (s) => {
        const prev = stats.get(s.service_id) ?? [];
        const newest = prev[prev.length - 1];
        // A jump in sample_no (same session): samples were missed; ask after the newest one
        // the page has (computed before this one is added).
        const before = lastNo.get(s.service_id);
        const jumped = s.sample_no !== undefined && before !== undefined && s.sample_no > before + 1 && newest?.session_id === s.session_id;
        if (s.sample_no !== undefined) lastNo.set(s.service_id, s.sample_no);
        // In order (the usual case) it is appended; a sample older than the newest one kept
        // (a backfill answered first) is merged in.
        const next = new Map(stats);
        next.set(s.service_id, newest === undefined || Date.parse(newest.at) < Date.parse(s.at) ? [...prev.slice(-(MAX_STATS - 1)), s] : mergeStats(prev, [s]));
        if (jumped) backfillService(s.session_id, s.service_id);
        stats = next;
        setState((st) => ({ ...st, stats }));
      });
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
