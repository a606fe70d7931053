// The byte level of ./codec.ts: protobuf varints, fixed-width and length-delimited values, read and written
// as protobufjs's Reader and Writer do, and long.js's conversion of a JavaScript value to 64 bits.

const TWO_63 = 2 ** 63;
const TWO_64 = 2 ** 64;

/** long.js `Long.fromValue` as 64 bits. */
export function int64Bits(v: unknown, unsigned: boolean, field: string): bigint {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 0n;
    if (unsigned) return v < 0 ? 0n : v >= TWO_64 ? 2n ** 64n - 1n : BigInt(Math.trunc(v));
    if (v <= -TWO_63) return BigInt.asUintN(64, -(2n ** 63n));
    if (v + 1 >= TWO_63) return 2n ** 63n - 1n;
    return BigInt.asUintN(64, BigInt(Math.trunc(v)));
  }
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'string') {
    if (/^[+-]?Infinity$|^NaN$/.test(v)) return 0n;
    if (!/^-?\d+$/.test(v)) throw new TypeError(`.${field}: cannot convert ${JSON.stringify(v)} to an integer`);
    return BigInt.asUintN(64, BigInt(v));
  }
  const o = v as { low?: unknown; high?: unknown };
  return (BigInt((Number(o.high) | 0) >>> 0) << 32n) | BigInt((Number(o.low) | 0) >>> 0);
}

export class Reader {
  constructor(readonly buf: Buffer, public pos: number, readonly end: number) {}

  varint64(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined || this.pos > this.end) throw new RangeError('index out of range');
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asUintN(64, result);
    }
    throw new Error('invalid varint encoding');
  }

  uint32(): number {
    return Number(BigInt.asUintN(32, this.varint64()));
  }

  fixed(n: number): Buffer {
    if (this.pos + n > this.end) throw new RangeError('index out of range');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  bytes(): Buffer {
    return this.fixed(this.uint32());
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint64();
    else if (wireType === 1) this.fixed(8);
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.fixed(4);
    else if (wireType === 3) {
      for (let t = this.uint32(); (t & 7) !== 4; t = this.uint32()) this.skip(t & 7);
    } else throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
  }
}

export class Writer {
  private readonly parts: Buffer[] = [];
  private bytesPending: number[] = [];

  tag(id: number, wireType: number): this {
    return this.uint32(((id << 3) | wireType) >>> 0);
  }

  uint32(v: number): this {
    return this.varint(BigInt(v >>> 0));
  }

  varint(v: bigint): this {
    let x = v;
    while (x > 0x7fn) {
      this.bytesPending.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytesPending.push(Number(x));
    return this;
  }

  fixed(n: number, fill: (b: Buffer) => void): this {
    const b = Buffer.alloc(n);
    fill(b);
    return this.raw(b);
  }

  string(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'));
  }

  bytes(b: Uint8Array): this {
    this.uint32(b.length);
    return this.raw(b);
  }

  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.parts);
  }

  private raw(b: Uint8Array): this {
    this.flush();
    this.parts.push(Buffer.isBuffer(b) ? b : Buffer.from(b));
    return this;
  }

  private flush(): void {
    if (this.bytesPending.length === 0) return;
    this.parts.push(Buffer.from(this.bytesPending));
    this.bytesPending = [];
  }
}
