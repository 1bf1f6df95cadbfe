import { useCallback, useEffect, useState } from "react";
import { errorText } from "./api.ts";

/** Loads data once (and again on `reload()` or when deps change); errors become text. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  useEffect(() => {
    let cancelled = false;
    run().then(
      (d) => !cancelled && (setData(d), setError(null)),
      (err) => !cancelled && setError(errorText(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [run, tick]);
  return { data, error, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/** Re-renders every `ms` (for uptimes and relative times). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** "3h 2m", "4m 10s", "12s". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function dateTime(at: string | null | undefined): string {
  if (at == null) return "—";
  return new Date(at).toLocaleString([], { hour12: false });
}
