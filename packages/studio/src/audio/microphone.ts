import workletUrl from "./capture-worklet.ts?worker&url";

/** Why the microphone could not be opened, in words a person can act on. */
export class MicrophoneError extends Error {
  readonly kind: "permission" | "no-device" | "insecure" | "other";
  constructor(kind: MicrophoneError["kind"], message: string) {
    super(message);
    this.kind = kind;
  }
}

/** An open microphone: 16 kHz s16le mono PCM in ~100 ms chunks until `stop()`. */
export interface Microphone {
  /** The PCM, ending after `stop()` once the last samples are out. Read it once. */
  chunks: AsyncIterable<Uint8Array>;
  /** The capture rate before resampling (the AudioContext's). */
  inputRate: number;
  /** Stops capture; the chunk stream ends after what was already captured. Idempotent. */
  stop(): Promise<void>;
  /** Settles when capture has stopped: `stop()`, or the track ended by itself (device gone). */
  ended: Promise<void>;
}

/**
 * Audio waiting to be sent is bounded: 30 s of PCM (~960 KB). A room that takes longer than
 * that to accept it is not keeping up, and the recording fails rather than grow the page.
 */
const MAX_QUEUED_BYTES = 30 * 32000;
/** Queued chunks are sent together up to this size (1 s), so a slow round trip catches up. */
const MAX_CHUNK_BYTES = 32000;

/**
 * Opens the default microphone with the browser's voice processing off (echo cancellation,
 * noise suppression and gain control reshape speech in ways a recogniser was not trained on),
 * and converts it to 16 kHz s16le mono in an AudioWorklet (capture-worklet.ts). Throws a
 * MicrophoneError: permission refused, no device, or a page that is not a secure context.
 */
export async function openMicrophone(): Promise<Microphone> {
  if (navigator.mediaDevices?.getUserMedia === undefined) {
    throw new MicrophoneError("insecure", "This page cannot use a microphone: browsers allow it only on https:// or http://localhost pages.");
  }
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === "NotAllowedError" || name === "SecurityError") throw new MicrophoneError("permission", "Microphone access was refused. Allow the microphone for this site in the browser's address bar, then try again.");
    if (name === "NotFoundError" || name === "OverconstrainedError") throw new MicrophoneError("no-device", "No microphone was found. Connect one and try again.");
    if (name === "NotReadableError") throw new MicrophoneError("other", "The microphone is in use by another program or could not be started.");
    throw new MicrophoneError("other", `Could not open the microphone: ${(err as Error).message ?? String(err)}`);
  }
  const ctx = new AudioContext();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const release = () => {
    for (const t of stream.getTracks()) t.stop();
    void ctx.close().catch(() => undefined);
  };
  try {
    await ctx.audioWorklet.addModule(workletUrl);
  } catch (err) {
    release();
    throw new MicrophoneError("other", `Could not start audio processing: ${(err as Error).message ?? String(err)}`);
  }
  await ctx.resume().catch(() => undefined);
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm16k-capture", { numberOfOutputs: 0 });
  node.port.onmessage = (e: MessageEvent<{ pcm?: ArrayBuffer; done?: boolean }>) => {
    if (e.data.pcm !== undefined) {
      queue.push(new Uint8Array(e.data.pcm));
      queued += e.data.pcm.byteLength;
      if (queued > MAX_QUEUED_BYTES && failure === null) {
        failure = new Error("the room is not accepting audio fast enough (30 s waiting to be sent); recording stopped");
        void stop();
      }
    }
    if (e.data.done === true) finish();
    notify();
  };
  source.connect(node);
  // A track that ends by itself (device unplugged, permission revoked) ends the recording.
  for (const t of stream.getAudioTracks()) t.addEventListener("ended", () => void stop());

  // Ends capture once: the worklet has sent its last samples ({done}), or did not answer.
  let finished: () => void = () => undefined;
  const finishedP = new Promise<void>((r) => (finished = r));
  function finish(): void {
    if (ended) return;
    ended = true;
    release();
    notify();
    finished();
  }

  let stopping: Promise<void> | null = null;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      source.disconnect();
      node.port.postMessage("flush");
      // A context that is already closed never answers the flush.
      const timer = setTimeout(finish, 1000);
      await finishedP;
      clearTimeout(timer);
    })();
    return stopping;
  }

  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (failure !== null) throw failure;
      if (queue.length > 0) {
        // Coalesce what is waiting (up to 1 s) into one chunk.
        let n = 0;
        let k = 0;
        while (k < queue.length && (k === 0 || n + queue[k].length <= MAX_CHUNK_BYTES)) n += queue[k++].length;
        const out = new Uint8Array(n);
        let off = 0;
        for (const part of queue.splice(0, k)) {
          out.set(part, off);
          off += part.length;
        }
        queued -= n;
        yield out;
        continue;
      }
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  }
  return { chunks: chunks(), inputRate: ctx.sampleRate, stop, ended: finishedP };
}
