/**
 * Resource quantities: memory sizes ("256Mi", "1Gi", 1073741824) and CPU amounts (0.5,
 * "500m"), written the way Kubernetes writes them so that people can paste values from the
 * manifests they already have.
 */

/** Binary (powers of 1024) and decimal (powers of 1000) suffixes, as in Kubernetes. */
const SUFFIX_MULTIPLIERS: Readonly<Record<string, number>> = {
  "": 1,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
  k: 1000,
  K: 1000,
  M: 1000 ** 2,
  G: 1000 ** 3,
  T: 1000 ** 4,
  P: 1000 ** 5,
  E: 1000 ** 6,
};

const QUANTITY_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)$/;

/** Raised by {@link parseQuantity} and {@link parseCpus}; the message says what to write instead. */
export class QuantityError extends Error {
  override name = "QuantityError";
}

/**
 * Turns a memory quantity into bytes: a number of bytes, or a string such as "256Mi", "1Gi",
 * "512M", "1.5Gi". Fractional bytes round up (as Kubernetes does).
 *
 * Docker's lowercase shorthands ("256m", "1g") are refused rather than guessed: in
 * Kubernetes "m" means milli, in Docker it means MiB, and picking one silently would give
 * somebody a container 1,000,000 times smaller than they meant.
 */
export function parseQuantity(input: string | number): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) {
      throw new QuantityError(`a quantity must be a non-negative number of bytes, got ${input}`);
    }
    return Math.ceil(input);
  }
  const text = input.trim();
  const m = QUANTITY_RE.exec(text);
  if (m === null) {
    throw new QuantityError(`${JSON.stringify(input)} is not a quantity; write a number with an optional suffix such as "256Mi", "1Gi" or "512M"`);
  }
  const [, digits, suffix] = m;
  const multiplier = SUFFIX_MULTIPLIERS[suffix];
  if (multiplier === undefined) {
    const hint = suggestSuffix(suffix);
    throw new QuantityError(
      `unknown suffix ${JSON.stringify(suffix)} in ${JSON.stringify(input)}${hint === undefined ? "" : ` (did you mean "${digits}${hint}"?)`}; ` +
        `use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000)`,
    );
  }
  const bytes = Math.ceil(Number(digits) * multiplier);
  if (!Number.isSafeInteger(bytes)) {
    throw new QuantityError(`${JSON.stringify(input)} is too large`);
  }
  return bytes;
}

/** Docker-style and lowercase spellings people commonly write, mapped to what they meant. */
function suggestSuffix(suffix: string): string | undefined {
  const map: Record<string, string> = {
    m: "Mi", mb: "Mi", mi: "Mi", MB: "M", MiB: "Mi", Mb: "Mi",
    g: "Gi", gb: "Gi", gi: "Gi", GB: "G", GiB: "Gi", Gb: "Gi",
    kb: "Ki", ki: "Ki", KB: "k", KiB: "Ki", Kb: "Ki", kib: "Ki",
    t: "Ti", tb: "Ti", TB: "T", TiB: "Ti", b: "", B: "",
  };
  return map[suffix];
}

/**
 * Turns a CPU amount into a number of CPUs: a number (0.5, 2) or a Kubernetes millicore
 * string ("500m" = 0.5).
 */
export function parseCpus(input: string | number): number {
  let cpus: number;
  if (typeof input === "number") {
    cpus = input;
  } else {
    const text = input.trim();
    const m = /^(\d+(?:\.\d+)?|\.\d+)(m?)$/.exec(text);
    if (m === null) {
      throw new QuantityError(`${JSON.stringify(input)} is not a CPU amount; write a number of CPUs (0.5, 2) or millicores ("500m")`);
    }
    cpus = m[2] === "m" ? Number(m[1]) / 1000 : Number(m[1]);
  }
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw new QuantityError(`a CPU amount must be greater than 0, got ${JSON.stringify(input)}`);
  }
  return cpus;
}

/** Human-readable bytes for messages ("6Mi", "1.5Gi"). */
export function formatBytes(bytes: number): string {
  const units = ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"] as const;
  for (const u of units) {
    const m = SUFFIX_MULTIPLIERS[u];
    if (bytes >= m) return `${Number((bytes / m).toFixed(2))}${u}`;
  }
  return `${bytes}`;
}
