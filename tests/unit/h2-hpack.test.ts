// HPACK (src/cli/h2/hpack.ts, huffman.ts) against the spec's own facts: the examples of RFC 7541 Appendix C
// (C.2 to C.6: each header list and the dynamic table after each block, with and without Huffman, with the
// evictions of a 256-octet table), codes of Appendix B, and the malformed blocks §4–§6 refuse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HpackDecoder, HpackError, encodeHeaders, type HeaderField } from '../../src/cli/h2/hpack.js';
import { huffmanCodes, huffmanDecode } from '../../src/cli/h2/huffman.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface Step {
  block: string;
  fields: HeaderField[];
  /** The dynamic table after the block, newest first, and its size. */
  table: HeaderField[];
  size: number;
}

function run(steps: Step[], tableSize = 4096): void {
  const d = new HpackDecoder(tableSize);
  steps.forEach((s, i) => {
    assert.deepStrictEqual(d.decode(hex(s.block)), s.fields, `block ${i + 1}: header list`);
    assert.deepStrictEqual(d.table.entries, s.table, `block ${i + 1}: dynamic table`);
    assert.equal(d.table.size, s.size, `block ${i + 1}: table size`);
  });
}

const WWW: HeaderField = [':authority', 'www.example.com'];
const REQ1: HeaderField[] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], WWW];
const REQ2: HeaderField[] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: HeaderField[] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], WWW, ['custom-key', 'custom-value']];
const REQ_TABLES: HeaderField[][] = [[WWW], [['cache-control', 'no-cache'], WWW], [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], WWW]];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC: HeaderField = ['location', 'https://www.example.com'];
const COOKIE: HeaderField = ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'];
const RES1: HeaderField[] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], LOC];
const RES2: HeaderField[] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], LOC];
const RES3: HeaderField[] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], LOC, ['content-encoding', 'gzip'], COOKIE];
const RES_TABLES: HeaderField[][] = [
  [LOC, ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], LOC, ['date', DATE1], ['cache-control', 'private']],
  [COOKIE, ['content-encoding', 'gzip'], ['date', DATE2]],
];

describe('RFC 7541 Appendix C', () => {
  test('C.2: the four representations of one field each', () => {
    run([{ block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', fields: [['custom-key', 'custom-header']], table: [['custom-key', 'custom-header']], size: 55 }]);
    run([{ block: '040c 2f73 616d 706c 652f 7061 7468', fields: [[':path', '/sample/path']], table: [], size: 0 }]);
    run([{ block: '1008 7061 7373 776f 7264 0673 6563 7265 74', fields: [['password', 'secret']], table: [], size: 0 }]);
    run([{ block: '82', fields: [[':method', 'GET']], table: [], size: 0 }]);
  });

  test('C.3: requests without Huffman, one context', () => {
    run([
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQ1, table: REQ_TABLES[0]!, size: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQ2, table: REQ_TABLES[1]!, size: 110 },
      { block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', fields: REQ3, table: REQ_TABLES[2]!, size: 164 },
    ]);
  });

  test('C.4: requests with Huffman', () => {
    run([
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQ1, table: REQ_TABLES[0]!, size: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQ2, table: REQ_TABLES[1]!, size: 110 },
      { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: REQ3, table: REQ_TABLES[2]!, size: 164 },
    ]);
  });

  test('C.5: responses without Huffman, 256-octet table: evictions', () => {
    run([
      {
        block: '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        fields: RES1, table: RES_TABLES[0]!, size: 222,
      },
      { block: '4803 3330 37c1 c0bf', fields: RES2, table: RES_TABLES[1]!, size: 222 },
      {
        block: '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
        fields: RES3, table: RES_TABLES[2]!, size: 215,
      },
    ], 256);
  });

  test('C.6: responses with Huffman, 256-octet table', () => {
    run([
      {
        block: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        fields: RES1, table: RES_TABLES[0]!, size: 222,
      },
      { block: '4883 640e ffc1 c0bf', fields: RES2, table: RES_TABLES[1]!, size: 222 },
      {
        block: '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
        fields: RES3, table: RES_TABLES[2]!, size: 215,
      },
    ], 256);
  });
});

describe('Appendix B and the rules on malformed input', () => {
  test('codes of Appendix B, from the lengths alone', () => {
    const codes = huffmanCodes();
    assert.equal(codes.length, 257);
    const sample: Array<[number, number, number]> = [
      [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5], [58, 0x5c, 7], [92, 0x7fff0, 19],
      [127, 0xffffffc, 28], [128, 0xfffe6, 20], [192, 0x3ffffe0, 26], [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
    ];
    for (const [symbol, code, length] of sample) assert.deepEqual(codes[symbol], [code, length], `symbol ${symbol}`);
    // A prefix code: Kraft's sum is exactly 1 (the tree is full).
    assert.equal(codes.reduce((sum, [, length]) => sum + 2 ** -length, 0), 1);
  });

  test('every byte value round-trips through a Huffman encoding built from the codes', () => {
    const codes = huffmanCodes();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    let bits = '';
    for (const b of all) bits += codes[b]![0].toString(2).padStart(codes[b]![1], '0');
    bits += '1'.repeat((8 - (bits.length % 8)) % 8);
    const encoded = Buffer.from(bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2)));
    assert.deepEqual(huffmanDecode(encoded), all);
  });

  test('refused: index 0, beyond the tables, a size update too large or late, truncation, bad padding, EOS', () => {
    const cases: Array<[string, RegExp]> = [
      ['80', /index 0/],
      ['be', /beyond the dynamic table/],
      ['3fe21f', /more than the 4096 allowed/],
      ['8220', /after a header field/],
      ['40036162', /beyond the header block/],
      ['ff', /ends inside an integer/],
      ['4081', /ends before a string|beyond the header block/],
      ['408100', /invalid padding/],
      ['4084ffffffff', /EOS/],
      ['ffffffffff0f', /too large/],
    ];
    for (const [block, message] of cases) {
      assert.throws(() => new HpackDecoder().decode(hex(block)), (e: unknown) => e instanceof HpackError && message.test(e.message), block);
    }
  });

  test('a size update to 0 empties the table; a smaller limit evicts', () => {
    const d = new HpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    assert.equal(d.table.size, 55);
    assert.deepEqual(d.decode(hex('20 82')), [[':method', 'GET']]);
    assert.deepEqual(d.table, { entries: [], size: 0, maxSize: 0 });
  });

  test('our encoder: static indexes where exact, literals otherwise; the decoder reads it back unchanged', () => {
    const fields: HeaderField[] = [
      [':method', 'POST'], [':scheme', 'http'], [':authority', 'localhost'], [':path', '/berth.v1.Units/List'], ['content-type', 'application/grpc'],
      ['te', 'trailers'], ['user-agent', 'berthctl'], ['grpc-timeout', '1500m'], ['x-long', 'v'.repeat(300)],
    ];
    const block = encodeHeaders(fields);
    assert.equal(block[0], 0x83, ':method POST is static entry 3');
    assert.equal(block[1], 0x86, ':scheme http is static entry 6');
    const d = new HpackDecoder();
    assert.deepStrictEqual(d.decode(block), fields);
    assert.equal(d.table.size, 0, 'nothing indexed');
  });
});
