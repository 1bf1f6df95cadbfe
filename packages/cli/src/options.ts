/** An error to show the user as-is (no stack), exit code 2. */
export class CliError extends Error {
  override name = "CliError";
}

export function parseIntOption(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) throw new CliError(`${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new CliError(`${name}: expected an integer from ${min} to ${max}, got ${n}`);
  return n;
}
