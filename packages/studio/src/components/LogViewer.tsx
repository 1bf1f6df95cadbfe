import { useEffect, useMemo, useReducer, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import Anser from "anser";
import type { LogBuffer } from "../log-buffer.ts";
import type { LogLine } from "../types.ts";
import { WrapIcon } from "./icons.tsx";

/** One line of text; a wrapped line is a multiple of it (measured). */
const ROW_HEIGHT = 20;

/** Filtered view over a LogBuffer, extended incrementally as lines arrive (no full rescans). */
interface FilterCache {
  key: string;
  /** Absolute indices (buffer.dropped + i) of matching lines. */
  indices: number[];
  /** Absolute index up to which the buffer was scanned. */
  scanned: number;
}

function matches(l: LogLine, service: string, needle: string): boolean {
  if (service !== "" && l.service_id !== service) return false;
  return needle === "" || l.text.toLowerCase().includes(needle) || l.service_name.toLowerCase().includes(needle);
}

function time(at: string): string {
  const d = new Date(at);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

/** ANSI SGR colours as spans (anser's classes, styled in styles.css); other escapes dropped. */
function AnsiText({ text }: { text: string }) {
  const parts = useMemo(() => Anser.ansiToJson(text, { use_classes: true, remove_empty: true }), [text]);
  return (
    <>
      {parts.map((p, i) => {
        const cls = [p.fg ? `${p.fg}-fg` : "", p.bg ? `${p.bg}-bg` : "", ...(p.decorations ?? []).map((d) => `ansi-${d}`)].join(" ").trim();
        return cls === "" ? <span key={i}>{p.content}</span> : <span key={i} className={cls}>{p.content}</span>;
      })}
    </>
  );
}

/**
 * The log viewer: one service or all combined, follow/pause (pausing never loses a line: the
 * buffer keeps filling and the view just stops moving), text filter, stdout/stderr told apart,
 * timestamps, ANSI colours, download, long lines wrapped (or, unwrapped, scrolled sideways).
 * Rows are virtualized with measured heights, so 100,000 lines stay smooth.
 */
export function LogViewer({ buffer, services, fileName, label = "Log lines" }: {
  buffer: LogBuffer;
  services: { id: string; name: string }[];
  fileName: string;
  label?: string;
}) {
  const [, rerender] = useReducer((x: number) => x + 1, 0);
  const [service, setService] = useState("");
  const [filter, setFilter] = useState("");
  const [follow, setFollow] = useState(true);
  const [pausedAt, setPausedAt] = useState(0);
  // Long lines wrap by default (every character on screen); unwrapped, they scroll sideways.
  const [wrap, setWrap] = useState(true);
  const cache = useRef<FilterCache>({ key: "", indices: [], scanned: 0 });
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => buffer.subscribe(rerender), [buffer]);

  // Bring the cache up to date with the buffer (cheap: only new lines are scanned).
  const needle = filter.trim().toLowerCase();
  const key = `${service}\u0000${needle}`;
  const c = cache.current;
  if (c.key !== key) {
    c.key = key;
    c.indices = [];
    c.scanned = buffer.dropped;
  }
  if (c.scanned < buffer.dropped) {
    c.scanned = buffer.dropped;
    const first = c.indices.findIndex((i) => i >= buffer.dropped);
    c.indices = first < 0 ? [] : c.indices.slice(first);
  }
  const end = buffer.dropped + buffer.lines.length;
  for (let abs = c.scanned; abs < end; abs++) {
    if (matches(buffer.lines[abs - buffer.dropped], service, needle)) c.indices.push(abs);
  }
  c.scanned = end;
  const count = c.indices.length;

  // Rows are measured as they render (a wrapped line is taller), keyed by the line itself so
  // a measurement stays with its line when the filter changes which lines are shown.
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    getItemKey: (i) => c.indices[i] ?? -1 - i,
    overscan: 20,
  });
  // Wrapping changes every row's height: measure again.
  useEffect(() => virtualizer.measure(), [wrap, virtualizer]);

  useEffect(() => {
    if (follow && count > 0) virtualizer.scrollToIndex(count - 1, { align: "end" });
  }, [follow, count, virtualizer]);

  const pause = () => {
    if (!follow) return;
    setFollow(false);
    setPausedAt(count);
  };

  const download = () => {
    const text = c.indices
      .map((abs) => buffer.lines[abs - buffer.dropped])
      .map((l) => `${l.at} ${l.service_name} ${l.stream} ${Anser.ansiToText(l.text)}`)
      .join("\n");
    const url = URL.createObjectURL(new Blob([text + "\n"], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = fileName;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  const newWhilePaused = follow ? 0 : Math.max(0, count - pausedAt);
  return (
    <div className="logviewer">
      <div className="toolbar" role="toolbar" aria-label="Log controls">
        <label className="inline">
          <span className="sr-only">Log source</span>
          <select value={service} onChange={(e) => setService(e.target.value)} aria-label="Log source">
            <option value="">All services</option>
            {services.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
          </select>
        </label>
        <input type="search" placeholder="Filter logs" aria-label="Filter logs" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <button type="button" className={follow ? "following" : ""} title={follow ? "Stop scrolling; new lines are kept" : "Scroll with new lines"} onClick={() => (follow ? pause() : setFollow(true))}>
          {follow ? "Pause" : newWhilePaused > 0 ? `Follow (${newWhilePaused.toLocaleString()} new)` : "Follow"}
        </button>
        <button type="button" aria-pressed={wrap} onClick={() => setWrap((x) => !x)} title={wrap ? "Long lines wrap; press to keep one line per row and scroll sideways" : "Long lines scroll sideways; press to wrap them"}>
          <WrapIcon /> Wrap
        </button>
        <button type="button" onClick={download} disabled={count === 0}>Download</button>
        <span className="muted small" aria-live="off">{count.toLocaleString()} lines</span>
        {buffer.skipped > 0 && (
          <span className="badge tone-warn small" role="status" title="The stream fell behind further than the server could make up; the kept session log has every line">
            {buffer.skipped.toLocaleString()} lines skipped
          </span>
        )}
      </div>
      <div
        ref={scroller}
        className={`logscroll ${wrap ? "wrapped" : "unwrapped"}`}
        role="log"
        aria-label={label}
        tabIndex={0}
        onWheel={(e) => e.deltaY < 0 && pause()}
        onKeyDown={(e) => ["ArrowUp", "PageUp", "Home"].includes(e.key) && pause()}
        onPointerDown={(e) => e.target === scroller.current && pause()}
      >
        {count === 0 ? (
          <p className="empty">{buffer.lines.length === 0 ? "No log lines yet." : "No lines match."}</p>
        ) : (
          <div className="logrows" style={{ height: virtualizer.getTotalSize() }}>
            {virtualizer.getVirtualItems().map((v) => {
              const l = buffer.lines[c.indices[v.index] - buffer.dropped];
              if (l === undefined) return null;
              return (
                <div key={v.key} ref={virtualizer.measureElement} data-index={v.index} className={`logrow ${l.stream}`} style={{ transform: `translateY(${v.start}px)` }}>
                  <time dateTime={l.at}>{time(l.at)}</time>
                  {service === "" && <span className="svc">{l.service_name}</span>}
                  <span className="stream" title={l.stream}>{l.stream === "stderr" ? "err" : "out"}</span>
                  <span className="text">
                    {buffer.gaps.has(l.seq) && <span className="gap">{buffer.gaps.get(l.seq)!.toLocaleString()} lines skipped before this one</span>}
                    <AnsiText text={l.text} />
                  </span>
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
