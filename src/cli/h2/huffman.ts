// The Huffman code of HPACK (RFC 7541 §5.2 and Appendix B), decoding only: berthctl sends its few request
// headers as plain literals, but nghttp2 (grpc-js's server, through Node's http2) Huffman-encodes what it sends.
//
// Appendix B's code is canonical: ordered by (length, symbol), each code is the previous one plus one, shifted
// left when the length grows. So the code lengths alone define it, and the table below is just those 257
// lengths (symbols 0–255 and EOS = 256), one base-36 digit each. tests/unit/h2-hpack.test.ts checks codes of
// Appendix B, the Huffman examples of Appendix C and what nghttp2 sends.
const LENGTHS =
  'dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmnqqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu';

const EOS = 256;

/** The code of each symbol as [code, length in bits], from the lengths (RFC 7541 Appendix B). */
export function huffmanCodes(): Array<[number, number]> {
  const lengths = [...LENGTHS].map((c) => parseInt(c, 36));
  const order = lengths.map((_, symbol) => symbol).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes: Array<[number, number]> = new Array(lengths.length);
  let code = 0;
  let previous = lengths[order[0]!]!;
  order.forEach((symbol, i) => {
    const length = lengths[symbol]!;
    // Codes reach 30 bits: multiply rather than shift, so they stay positive numbers.
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    codes[symbol] = [code, length];
  });
  return codes;
}

/**
 * Decoding tables of the canonical code: codes of length L are `first[L]` … `first[L] + count[L] - 1`, in
 * symbol order, their symbols at `symbols[start[L]]` onwards. Decoding then needs no tree: read bits into a
 * number until it falls inside its length's range. Built on the first Huffman string (a few hundred steps;
 * building a bit-by-bit tree took ~2 ms of every berthctl call).
 */
interface Canonical {
  first: Float64Array;
  count: Int32Array;
  start: Int32Array;
  symbols: Int32Array;
}
let canonical: Canonical | undefined;

const MAX_BITS = 30;

function buildCanonical(): Canonical {
  const count = new Int32Array(MAX_BITS + 1);
  for (let symbol = 0; symbol < LENGTHS.length; symbol++) count[parseInt(LENGTHS[symbol]!, 36)]!++;
  const start = new Int32Array(MAX_BITS + 2);
  for (let length = 1; length <= MAX_BITS; length++) start[length + 1] = start[length]! + count[length]!;
  const next = start.slice();
  const symbols = new Int32Array(LENGTHS.length);
  for (let symbol = 0; symbol < LENGTHS.length; symbol++) symbols[next[parseInt(LENGTHS[symbol]!, 36)]!++] = symbol;
  const first = new Float64Array(MAX_BITS + 1);
  let code = 0;
  for (let length = 1; length <= MAX_BITS; length++) {
    first[length] = code;
    code = (code + count[length]!) * 2;
  }
  return { first, count, start, symbols };
}

/** Decodes a Huffman-coded string literal; a malformed one (EOS inside, bad padding) throws, as §5.2 requires. */
export function huffmanDecode(input: Buffer): Buffer {
  const { first, count, start, symbols } = (canonical ??= buildCanonical());
  const out = Buffer.allocUnsafe(Math.ceil((input.length * 8) / 5));
  let length = 0;
  // The bits read since the last complete symbol, as a number, and how many; whether all of them were 1s:
  // the only padding allowed is the start of EOS (all 1s), shorter than 8 bits.
  let code = 0;
  let bits = 0;
  let allOnes = true;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      code = code * 2 + b;
      bits++;
      allOnes &&= b === 1;
      const index = code - first[bits]!;
      if (index >= 0 && index < count[bits]!) {
        const symbol = symbols[start[bits]! + index]!;
        if (symbol === EOS) throw new Error('Huffman string contains EOS');
        out[length++] = symbol;
        code = 0;
        bits = 0;
        allOnes = true;
      } else if (bits >= MAX_BITS) {
        throw new Error('Huffman string contains EOS');
      }
    }
  }
  if (bits > 7 || !allOnes) throw new Error('Huffman string with invalid padding');
  return out.subarray(0, length);
}
