// One stream of ./connection.ts as the connection tracks it, and what its user is told: the header blocks
// and DATA the server sends, then exactly one end.
import type { HeaderField } from './hpack.js';

/** How a stream ended, once. */
export type StreamEnd =
  /** The server ended it with END_STREAM (node:http2 reports rstCode 0 then). */
  | { kind: 'ended' }
  /** RST_STREAM from the server, our own cancel, or refused by a GOAWAY (REFUSED_STREAM). */
  | { kind: 'reset'; code: number }
  /** The connection closed or failed first; its `error` says why, if anything did. */
  | { kind: 'connection' };

export interface StreamEvents {
  /** Response headers, then trailers; `endStream` when nothing follows on the stream. */
  onHeaders(fields: HeaderField[], endStream: boolean): void;
  onData(chunk: Buffer): void;
  onClose(end: StreamEnd): void;
}

export class StreamState {
  /** 0 while it waits for a free slot under the server's SETTINGS_MAX_CONCURRENT_STREAMS. */
  id = 0;
  /** What we may still send on it (the server's initial window, then its WINDOW_UPDATEs). */
  sendWindow = 0;
  /** What the server may still send on it before our next WINDOW_UPDATE. */
  receiveWindow = 0;
  /** END_STREAM went out: the whole body was sent. */
  endSent = false;
  /** onClose was called. */
  done = false;

  constructor(
    readonly headerBlock: Buffer,
    /** The part of the request body not sent yet. */
    public body: Buffer,
    readonly events: StreamEvents,
  ) {}
}
