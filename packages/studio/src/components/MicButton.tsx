import { useEffect, useRef, useState } from "react";
import type { RoomClient } from "@meshagent/meshagent";
import { errorText } from "../api.ts";
import { MicrophoneError, openMicrophone, type Microphone } from "../audio/microphone.ts";
import { MicIcon } from "./icons.tsx";

/** The microphone's lifecycle; the button and the status line are drawn from it. */
type MicState =
  | { kind: "idle" }
  | { kind: "starting" }
  | { kind: "recording"; mic: Microphone }
  | { kind: "transcribing" }
  | { kind: "error"; message: string };

/** How often to look for the `voice` toolkit (it registers after its container starts). */
const TOOLKIT_POLL_MS = 3000;

/**
 * Whether the room offers the `voice` toolkit (examples/voice), asked with `room.list_toolkits`
 * now and every few seconds while `client` is joined (toolkits come and go with services).
 */
export function useVoiceToolkit(client: RoomClient): boolean {
  const [present, setPresent] = useState(false);
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const look = async () => {
      try {
        const kits = await client.listToolkits();
        if (alive) setPresent(kits.some((k) => k.name === "voice"));
      } catch {
        // Leaving the room ends the client; the next look (if still mounted) tells.
      }
      if (alive) timer = setTimeout(look, TOOLKIT_POLL_MS);
    };
    void look();
    return () => {
      alive = false;
      if (timer !== null) clearTimeout(timer);
    };
  }, [client]);
  return present;
}

/**
 * The chat panel's microphone: press to stream the microphone (16 kHz s16le mono, see
 * audio/microphone.ts) into the `voice` toolkit's streaming `transcribe` tool, press again to
 * stop; each transcript (one per utterance, as the service hears it) goes to `onTranscript`.
 * With a `thread` (a thread document's path) every chunk carries it in its `thread` header,
 * and the voice service appends what it heard to that thread (examples/voice).
 * Shown while the room has the voice toolkit (`available`); a recording in progress, and the
 * error that ends it when the service leaves, stay on screen after the toolkit is gone.
 */
export function MicButton({ client, available, thread, onTranscript }: { client: RoomClient; available: boolean; thread: string | null; onTranscript: (text: string) => void }) {
  const [state, setState] = useState<MicState>({ kind: "idle" });
  const micRef = useRef<Microphone | null>(null);
  // Leaving the room (or the page) stops the microphone.
  useEffect(() => () => void micRef.current?.stop(), []);

  const start = async () => {
    setState({ kind: "starting" });
    let mic: Microphone;
    try {
      mic = await openMicrophone();
    } catch (err) {
      setState({ kind: "error", message: err instanceof MicrophoneError ? err.message : `Could not open the microphone: ${errorText(err)}` });
      return;
    }
    micRef.current = mic;
    try {
      const { BinaryContent, JsonContent, ErrorContent } = await import("@meshagent/meshagent");
      const input = (async function* () {
        for await (const pcm of mic.chunks) yield new BinaryContent({ data: pcm, headers: { sample_rate: 16000, channels: 1, ...(thread === null ? {} : { thread }) } });
      })();
      let output: AsyncIterable<unknown>;
      try {
        output = await client.invokeStream({ toolkit: "voice", tool: "transcribe", input });
      } catch (err) {
        throw new Error(`The voice service did not take the call (${errorText(err)}). Is the voice service running in this room?`);
      }
      setState({ kind: "recording", mic });
      // Capture can end without the button (the device went away): the service still answers.
      void mic.ended.then(() => setState((st) => (st.kind === "recording" && st.mic === mic ? { kind: "transcribing" } : st)));
      for await (const c of output) {
        if (c instanceof ErrorContent) throw new Error(`Transcription stopped: ${c.text}.`);
        if (c instanceof JsonContent && typeof c.json.text === "string" && c.json.text.trim() !== "") onTranscript(c.json.text.trim());
      }
      setState({ kind: "idle" });
    } catch (err) {
      setState({ kind: "error", message: err instanceof Error ? err.message : errorText(err) });
    } finally {
      await mic.stop();
      if (micRef.current === mic) micRef.current = null;
    }
  };

  const stop = () => {
    if (state.kind !== "recording") return;
    // The service answers the last utterance after the input ends: "transcribing" until then.
    setState({ kind: "transcribing" });
    void state.mic.stop();
  };

  if (!available && (state.kind === "idle" || state.kind === "error")) {
    return state.kind === "error" ? <span className="mic-status error small" role="alert">{state.message}</span> : null;
  }
  const recording = state.kind === "recording";
  const busy = state.kind === "starting" || state.kind === "transcribing";
  return (
    <>
      <button
        type="button"
        className={`mic-button ${recording ? "recording" : ""}`}
        aria-label={recording ? "Stop recording" : "Speak"}
        aria-pressed={recording}
        title={recording ? "Stop recording" : "Speak: your words are transcribed by the room's voice service"}
        disabled={busy}
        onClick={recording ? stop : () => void start()}
      >
        <MicIcon />
      </button>
      {state.kind === "starting" && <span className="mic-status muted small" role="status">Opening the microphone…</span>}
      {recording && <span className="mic-status small recording" role="status">Recording — speak, then press stop</span>}
      {state.kind === "transcribing" && <span className="mic-status muted small" role="status">Transcribing…</span>}
      {state.kind === "error" && <span className="mic-status error small" role="alert">{state.message}</span>}
    </>
  );
}
