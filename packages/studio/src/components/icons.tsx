/**
 * Studio's icons, as inline SVG drawn in `currentColor`. Never emoji or symbol characters:
 * a machine without an emoji font (Debian's headless Chromium has none) draws those as boxes.
 * All are decorative (`aria-hidden`): the control they sit in carries the text or label.
 */
import type { ReactElement } from "react";

function Svg({ size = 16, className, children }: { size?: number; className?: string; children: ReactElement | ReactElement[] }) {
  return (
    <svg className={`icon ${className ?? ""}`.trim()} viewBox="0 0 24 24" width={size} height={size} aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}

/** A folder (storage listings). */
export function FolderIcon({ size }: { size?: number }) {
  return <Svg size={size}><path fill="currentColor" d="M3 5.5A1.5 1.5 0 0 1 4.5 4h4.6l2 2.2h8.4A1.5 1.5 0 0 1 21 7.7v10.8a1.5 1.5 0 0 1-1.5 1.5h-15A1.5 1.5 0 0 1 3 18.5z" /></Svg>;
}

/** A document with a folded corner (storage listings, chat attachments). */
export function FileIcon({ size }: { size?: number }) {
  return <Svg size={size}><path fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinejoin="round" d="M6 3h8l5 5v13H6zM14 3v5h5" /></Svg>;
}

/** A cross (remove a row). */
export function CloseIcon({ size }: { size?: number }) {
  return <Svg size={size}><path fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" d="M6 6l12 12M18 6 6 18" /></Svg>;
}

/** Studio's mark: a diamond. */
export function LogoIcon({ size }: { size?: number }) {
  return <Svg size={size} className="logo"><path fill="currentColor" d="M12 2.5 21.5 12 12 21.5 2.5 12z" /></Svg>;
}

/** A microphone (the chat's speak button). */
export function MicIcon({ size }: { size?: number }) {
  return <Svg size={size}><path fill="currentColor" d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z" /></Svg>;
}

/** A speaker (an audio attachment). */
export function SpeakerIcon({ size }: { size?: number }) {
  return <Svg size={size}><path fill="currentColor" d="M4 9h4l5-4v14l-5-4H4zm12.5-1.5a6 6 0 0 1 0 9l-1.4-1.4a4 4 0 0 0 0-6.2zm2.8-2.8a10 10 0 0 1 0 14.6l-1.4-1.4a8 8 0 0 0 0-11.8z" /></Svg>;
}

/** Lines wrapped onto the next one (the log viewer's wrap toggle). */
export function WrapIcon({ size }: { size?: number }) {
  return <Svg size={size}><path fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" d="M4 6h16M4 12h13a3 3 0 0 1 0 6h-4m2-2-2 2 2 2M4 18h5" /></Svg>;
}
