import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Stats } from "../types.ts";

/** Bytes as KiB/MiB/GiB. */
export function bytes(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${u[i]}`;
}

/**
 * The x-axis window in seconds for samples at `xs` (ascending, seconds): at least the last
 * minute, ending at the newest sample — or at `now` when there is none yet.
 */
export function timeWindow(xs: number[], now: number): [number, number] {
  const last = xs.length === 0 ? now : xs[xs.length - 1];
  const first = xs.length === 0 ? now : xs[0];
  return [Math.min(first, last - 60), last];
}

/**
 * A live uPlot chart of one metric of one service, with its limit drawn as a dashed line
 * (memory limit, or CPU limit in percent of one core) when the service has one. The figure
 * carries how many samples it draws and the times of the first and last (`data-samples`,
 * `data-first-at`, `data-last-at`), so a test can tell a chart with a hole from a whole one.
 */
export function StatsChart({ samples, metric, label }: { samples: Stats[]; metric: "cpu" | "memory"; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  const xs = samples.map((s) => Date.parse(s.at) / 1000);
  const ys = samples.map((s) => (metric === "cpu" ? s.cpu_percent : s.memory_bytes));
  const last = samples[samples.length - 1];
  const limit = last === undefined ? null : metric === "cpu" ? (last.cpu_limit_cores === null ? null : last.cpu_limit_cores * 100) : last.memory_limit_bytes;
  const data: uPlot.AlignedData = [xs, ys, xs.map(() => limit)];
  const span = timeWindow(xs, Date.now() / 1000);

  useEffect(() => {
    const el = box.current!;
    const color = metric === "cpu" ? "#4f7cff" : "#16a37f";
    const fmt = (v: number | null) => (v === null ? "–" : metric === "cpu" ? `${v.toFixed(1)} %` : bytes(v));
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 140,
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false } },
      // The x window is set from the data (timeWindow) after every update: uPlot's own
      // auto-range widens a single sample to a whole day and has no range at all for none.
      scales: { x: { time: true, auto: false }, y: { range: (_u, _min, max) => [0, Math.max(max, metric === "cpu" ? 5 : 1024 * 1024) * 1.15] } },
      axes: [
        {
          stroke: "#8a93a6", grid: { stroke: "rgba(138,147,166,.15)" }, ticks: { show: false }, space: 80,
          values: (_u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour12: false })),
        },
        { stroke: "#8a93a6", grid: { stroke: "rgba(138,147,166,.15)" }, ticks: { show: false }, size: 64, values: (_u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [
        {},
        { label, stroke: color, fill: color + "22", width: 2, value: (_u, v) => fmt(v) },
        { label: "limit", stroke: "#e5484d", dash: [6, 4], width: 1.5, value: (_u, v) => fmt(v) },
      ],
    };
    plot.current = new uPlot(opts, data, el);
    plot.current.setScale("x", { min: span[0], max: span[1] });
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 140 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Created once per metric; data updates go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [metric, label]);

  useEffect(() => {
    plot.current?.setData(data);
    plot.current?.setScale("x", { min: span[0], max: span[1] });
  });

  const current = last === undefined ? "no samples yet" : metric === "cpu" ? `${last.cpu_percent.toFixed(1)} % of a core` : bytes(last.memory_bytes);
  const limitText = limit === null ? "no limit" : metric === "cpu" ? `limit ${(limit / 100).toFixed(2)} cores` : `limit ${bytes(limit)}`;
  return (
    <figure className="chart" data-samples={samples.length} data-first-at={samples[0]?.at} data-last-at={last?.at}>
      <figcaption><strong>{label}</strong> <span className="muted">{current} · {limitText}</span></figcaption>
      <div ref={box} role="img" aria-label={`${label}: ${current}, ${limitText}`} />
    </figure>
  );
}
