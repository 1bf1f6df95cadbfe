import { splitSpoken } from "../thread-doc.ts";
import { SpeakerIcon } from "./icons.tsx";

/**
 * A chat message's text. The voice example's spoken replies start with 🔊 on the wire; that
 * prefix is drawn as an inline icon (with "spoken:" for screen readers) instead of the emoji,
 * which a machine without an emoji font renders as a box.
 */
export function MessageText({ text }: { text: string }) {
  const m = splitSpoken(text);
  if (!m.spoken) return <span className="text">{text}</span>;
  return (
    <span className="text spoken" title="Spoken reply">
      <SpeakerIcon size={14} /><span className="sr-only">spoken:</span> {m.text}
    </span>
  );
}
