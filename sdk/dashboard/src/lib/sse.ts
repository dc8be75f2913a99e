// A Server-Sent Events parser (the WHATWG event-stream format), fed the
// response body's text in whatever pieces the network delivers. The
// dashboard reads streams with fetch (so the Authorization header is sent)
// instead of EventSource, and parses them here.

/** One dispatched event. */
export interface SSEEvent {
  /** The `event:` field, or "message" when there was none. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The `id:` field, when there was one. */
  id?: string;
}

/** Incremental parser: `push` text as it arrives; events come back in order. */
export class SSEParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | undefined;
  private sawCR = false;

  /** Parses `chunk` and returns the events it completed. */
  push(chunk: string): SSEEvent[] {
    const out: SSEEvent[] = [];
    let text = chunk;
    // A "\r\n" split across chunks: the "\n" after a "\r" ends nothing more.
    if (this.sawCR && text.startsWith("\n")) text = text.slice(1);
    this.sawCR = false;
    let start = 0;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code !== 10 && code !== 13) continue;
      this.line(this.buffer + text.slice(start, index), out);
      this.buffer = "";
      if (code === 13) {
        if (index + 1 < text.length) {
          if (text.charCodeAt(index + 1) === 10) index++;
        } else {
          this.sawCR = true;
        }
      }
      start = index + 1;
    }
    this.buffer += text.slice(start);
    return out;
  }

  private line(line: string, out: SSEEvent[]): void {
    if (line === "") {
      if (this.data.length > 0) {
        const event: SSEEvent = { event: this.event || "message", data: this.data.join("\n") };
        if (this.id !== undefined) event.id = this.id;
        out.push(event);
      }
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return; // a comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.id = value;
        break;
      default:
        break; // "retry" and unknown fields are ignored
    }
  }
}
