// HPACK (RFC 7541): the full decoder a client needs for what a server sends (integers, string literals with
// or without Huffman, the static table, the dynamic table with its size updates and eviction), and a trivial
// encoder for berthctl's own request headers (static-table indexes where an entry matches exactly, otherwise
// literals without indexing and without Huffman, so the encoder keeps no state). No npm package fits: hpack.js
// alone takes ~27 ms to load, more than this whole client is allowed.
import { huffmanDecode } from './huffman.js';

export type HeaderField = [name: string, value: string];

/** RFC 7541 Appendix A; index 1 is the first entry. */
const STATIC: ReadonlyArray<HeaderField> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'],
  [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'], ['accept-language', ''],
  ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''],
  ['cache-control', ''], ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''], ['expect', ''],
  ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** The default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
export const DEFAULT_TABLE_SIZE = 4096;
/** §4.1: an entry's size counts 32 octets beyond its name and value. */
const ENTRY_OVERHEAD = 32;

/** A malformed header block: the RFC makes it a COMPRESSION_ERROR of the whole connection. */
export class HpackError extends Error {}

/**
 * One connection's decoding context. Names and values are latin1 strings, one character per octet, as
 * node:http2 gives them (gRPC percent-encodes everything else), so a string's length is its size in octets.
 */
export class HpackDecoder {
  /** Newest first: dynamic index 62 is dynamic[0]. */
  private readonly dynamic: HeaderField[] = [];
  private size = 0;
  private maxSize: number;

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE we advertised, the most a size update may ask for. */
  constructor(private readonly limit = DEFAULT_TABLE_SIZE) {
    this.maxSize = limit;
  }

  /** The dynamic table, newest first, and its size: what RFC 7541 Appendix C shows after each block. */
  get table(): { entries: HeaderField[]; size: number; maxSize: number } {
    return { entries: this.dynamic.map(([n, v]) => [n, v]), size: this.size, maxSize: this.maxSize };
  }

  /** One complete header block (HEADERS plus its CONTINUATIONs), in order, repeated names kept. */
  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    const r = { buf: block, pos: 0 };
    while (r.pos < block.length) {
      const first = block[r.pos]!;
      if (first & 0x80) {
        // §6.1 Indexed Header Field.
        fields.push(this.entry(readInteger(r, 7)));
      } else if (first & 0x40) {
        // §6.2.1 Literal with Incremental Indexing.
        const field = this.literal(r, 6);
        this.add(field);
        fields.push(field);
      } else if (first & 0x20) {
        // §6.3 Dynamic Table Size Update: only before the first field of a block (§4.2).
        if (fields.length > 0) throw new HpackError('dynamic table size update after a header field');
        const size = readInteger(r, 5);
        if (size > this.limit) throw new HpackError(`dynamic table size update to ${size}, more than the ${this.limit} allowed`);
        this.maxSize = size;
        this.evict(0);
      } else {
        // §6.2.2 without indexing (0000) and §6.2.3 never indexed (0001): the same to a decoder.
        fields.push(this.literal(r, 4));
      }
    }
    return fields;
  }

  private entry(index: number): HeaderField {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const field = this.dynamic[index - STATIC.length - 1];
    if (!field) throw new HpackError(`header index ${index} beyond the dynamic table (${this.dynamic.length} entries)`);
    return field;
  }

  private literal(r: Reader, prefix: number): HeaderField {
    const index = readInteger(r, prefix);
    const name = index === 0 ? readString(r) : this.entry(index)[0];
    return [name, readString(r)];
  }

  /** §4.4: evict from the oldest end until the entry fits; one larger than the table empties it. */
  private add(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    this.evict(size);
    if (size > this.maxSize) return;
    this.dynamic.unshift(field);
    this.size += size;
  }

  /** Evicts until `room` more octets fit under the maximum. */
  private evict(room: number): void {
    while (this.dynamic.length > 0 && this.size + room > this.maxSize) {
      const [name, value] = this.dynamic.pop()!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
    }
  }
}

interface Reader {
  buf: Buffer;
  pos: number;
}

/** §5.1; values past 2^31 are refused (no header or table size we accept comes near). */
function readInteger(r: Reader, prefix: number): number {
  const mask = (1 << prefix) - 1;
  if (r.pos >= r.buf.length) throw new HpackError('header block ends inside an integer');
  let value = r.buf[r.pos++]! & mask;
  if (value < mask) return value;
  for (let shift = 0; ; shift += 7) {
    if (r.pos >= r.buf.length) throw new HpackError('header block ends inside an integer');
    const byte = r.buf[r.pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (value > 2 ** 31) throw new HpackError('integer too large in a header block');
    if ((byte & 0x80) === 0) return value;
  }
}

/** §5.2: a length with the Huffman flag, then that many octets. */
function readString(r: Reader): string {
  if (r.pos >= r.buf.length) throw new HpackError('header block ends before a string');
  const huffman = (r.buf[r.pos]! & 0x80) !== 0;
  const length = readInteger(r, 7);
  if (r.pos + length > r.buf.length) throw new HpackError(`string of ${length} octets beyond the header block`);
  const raw = r.buf.subarray(r.pos, r.pos + length);
  r.pos += length;
  if (!huffman) return raw.toString('latin1');
  try {
    return huffmanDecode(raw).toString('latin1');
  } catch (err) {
    throw new HpackError(err instanceof Error ? err.message : String(err));
  }
}

/** §5.1 with the pattern bits of the representation in `first`. */
function writeInteger(out: number[], first: number, prefix: number, value: number): void {
  const mask = (1 << prefix) - 1;
  if (value < mask) {
    out.push(first | value);
    return;
  }
  out.push(first | mask);
  let rest = value - mask;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function writeString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  writeInteger(out, 0x00, 7, bytes.length);
  for (const b of bytes) out.push(b);
}

/** Our request headers as a header block: never touches a dynamic table, so it needs no state. */
export function encodeHeaders(fields: ReadonlyArray<HeaderField>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const exact = STATIC.findIndex(([n, v]) => n === name && v === value);
    if (exact >= 0) {
      writeInteger(out, 0x80, 7, exact + 1);
      continue;
    }
    const named = STATIC.findIndex(([n]) => n === name);
    writeInteger(out, 0x00, 4, named + 1); // 0 (not found) means a literal name follows
    if (named < 0) writeString(out, name);
    writeString(out, value);
  }
  return Buffer.from(out);
}
