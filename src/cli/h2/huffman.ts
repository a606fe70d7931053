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
 * The decoding tree as two arrays: for node n, child[2n + bit] is the next node, or -(symbol + 1) at a leaf.
 * Built on the first Huffman string, since most headers of a small answer come from the tables.
 */
let tree: Int32Array | undefined;

function buildTree(): Int32Array {
  const child = new Int32Array(2 * 512);
  let nodes = 1;
  huffmanCodes().forEach(([code, length], symbol) => {
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const b = Math.floor(code / 2 ** bit) % 2;
      const slot = 2 * node + b;
      if (bit === 0) child[slot] = -(symbol + 1);
      else node = child[slot] || (child[slot] = nodes++);
    }
  });
  return child;
}

/** Decodes a Huffman-coded string literal; a malformed one (EOS inside, bad padding) throws, as §5.2 requires. */
export function huffmanDecode(input: Buffer): Buffer {
  const child = (tree ??= buildTree());
  const out = Buffer.allocUnsafe(Math.ceil((input.length * 8) / 5));
  let length = 0;
  let node = 0;
  // Bits read since the last complete symbol, and whether all of them were 1s: the only padding allowed is
  // the start of EOS (all 1s), shorter than 8 bits.
  let pending = 0;
  let allOnes = true;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      const next = child[2 * node + b]!;
      pending++;
      allOnes &&= b === 1;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new Error('Huffman string contains EOS');
        out[length++] = symbol;
        node = 0;
        pending = 0;
        allOnes = true;
      } else {
        node = next;
      }
    }
  }
  if (pending > 7 || !allOnes) throw new Error('Huffman string with invalid padding');
  return out.subarray(0, length);
}
