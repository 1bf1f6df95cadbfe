import { useMemo, useRef } from "react";
import CodeMirror, { EditorView } from "@uiw/react-codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, type Diagnostic } from "@codemirror/lint";
import type { ManifestError } from "../types.ts";

/** Where a located error sits in the document: its line (1-based) from column to line end. */
export function errorRange(doc: { lines: number; line(n: number): { from: number; to: number } }, e: ManifestError): { from: number; to: number } {
  const n = Math.min(Math.max(e.line ?? 1, 1), doc.lines);
  const line = doc.line(n);
  const from = Math.min(line.from + Math.max((e.column ?? 1) - 1, 0), line.to);
  return { from, to: from === line.to ? line.to : line.to };
}

export function errorText(e: ManifestError): string {
  const extra = [e.expected !== undefined ? `expected ${e.expected}` : "", e.got !== undefined ? `got ${e.got}` : ""].filter(Boolean).join(", ");
  return `${e.path || "(root)"}: ${e.message}${extra ? ` (${extra})` : ""}`;
}

/**
 * The manifest YAML editor: CodeMirror with YAML highlighting, its editable area labelled
 * "Manifest". `validate` is the server's validate route; its located errors are drawn inline
 * at the line and column it names (lint underline + gutter marker + message on hover).
 */
export function YamlEditor({ value, onChange, validate }: {
  value: string;
  onChange: (v: string) => void;
  validate: (text: string) => Promise<ManifestError[]>;
}) {
  const validateRef = useRef(validate);
  validateRef.current = validate;
  const extensions = useMemo(() => [
    yaml(),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({ "aria-label": "Manifest" }),
    lintGutter(),
    linter(async (view): Promise<Diagnostic[]> => {
      const text = view.state.doc.toString();
      let errors: ManifestError[];
      try {
        errors = await validateRef.current(text);
      } catch {
        return [];
      }
      if (view.state.doc.toString() !== text) return [];
      return errors.map((e) => ({ ...errorRange(view.state.doc, e), severity: "error", message: errorText(e), source: e.line !== undefined ? `line ${e.line}` : undefined }));
    }, { delay: 400 }),
  ], []);
  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      extensions={extensions}
      basicSetup={{ lineNumbers: true, foldGutter: false, highlightActiveLine: true, autocompletion: false }}
      minHeight="320px"
      maxHeight="60vh"
      className="yaml-editor"
    />
  );
}
