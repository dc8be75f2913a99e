// A job's output as the log view shows it: chunks (base64 in the JSON
// mapping) decoded per stream, split into lines, the newest `maxLines` kept.

import type { LogChunk, LogStream } from "../../../ts/orchion";

export interface LogLine {
  /** Increasing from 0 over the tail's life (a React key). */
  key: number;
  stream: LogStream;
  text: string;
}

export class LogTail {
  private readonly decoders = new Map<LogStream, TextDecoder>();
  private readonly partial = new Map<LogStream, string>();
  private lines: LogLine[] = [];
  private nextKey = 0;
  /** Bytes received, per stream (the `offset` to resume from is the stdout+stderr position of the attempt). */
  bytes = 0;
  /** Bumped by every change. */
  version = 0;

  constructor(private readonly maxLines = 5000) {}

  /** Adds a chunk; returns how many whole lines it completed. */
  push(chunk: LogChunk): number {
    const stream = chunk.stream ?? "LOG_STREAM_STDOUT";
    const bytes = decodeBase64(chunk.data ?? "");
    this.bytes += bytes.length;
    let decoder = this.decoders.get(stream);
    if (decoder === undefined) {
      decoder = new TextDecoder("utf-8", { fatal: false });
      this.decoders.set(stream, decoder);
    }
    const text = (this.partial.get(stream) ?? "") + decoder.decode(bytes, { stream: true });
    const parts = text.split("\n");
    this.partial.set(stream, parts.pop() ?? "");
    for (const part of parts) this.lines.push({ key: this.nextKey++, stream, text: part.replace(/\r$/, "") });
    if (this.lines.length > this.maxLines) this.lines = this.lines.slice(this.lines.length - this.maxLines);
    if (parts.length > 0) this.version++;
    return parts.length;
  }

  /** The kept lines, then any unfinished last line of each stream. */
  view(): LogLine[] {
    const open: LogLine[] = [];
    for (const [stream, text] of this.partial) {
      if (text) open.push({ key: -1 - open.length, stream, text });
    }
    return open.length > 0 ? [...this.lines, ...open] : this.lines;
  }
}

/** Bytes of standard base64 (the JSON mapping of `bytes`; URL-safe accepted too). */
export function decodeBase64(text: string): Uint8Array {
  const clean = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const binary = atob(clean + "===".slice((clean.length + 3) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
