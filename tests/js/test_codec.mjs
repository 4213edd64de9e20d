// The JavaScript codec against the bytes of PROTOCOL.md's worked example
// (section 7), which protocol/'s C encoder produced: the two
// implementations must write and read the same frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeFrame, decodeFrame, T, ProtocolError } from '../../clients/js/codec.js';

const spec = readFileSync(fileURLToPath(new URL('../../protocol/PROTOCOL.md', import.meta.url)), 'utf8');
const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/* The hex block after "The 199 bytes on the wire:". */
function pushBytes() {
  const at = spec.indexOf('The 199 bytes on the wire:');
  const block = spec.slice(spec.indexOf('```', at) + 3, spec.indexOf('```', spec.indexOf('```', at) + 3));
  return block.trim().replace(/\s+/g, '');
}

/* A one-line example: `{...}   hex hex ...` possibly continued. */
function lineBytes(start) {
  const at = spec.indexOf(start);
  const lines = spec.slice(at).split('\n');
  let out = lines[0].slice(lines[0].indexOf('}') + 1).trim();
  for (const l of lines.slice(1)) {
    if (!/^\s{20,}[0-9a-f ]+$/.test(l)) break;
    out += ' ' + l.trim();
  }
  return out.replace(/\s+/g, '');
}

const session = '0190f3a0-1c00-7a00-8b11-4d2c9e7f3a10';
const fatima = '0190f3c6-e2b4-7f08-a1d3-0b9c5e6f7a28';

test('a push encodes to the worked example byte for byte', () => {
  const frame = {
    t: T.PUSH,
    ops: [
      { s: 6, h: 112557313458176000n, y: 5, k: session, k2: fatima, b: 40,
        f: new Map([[1, 'present'], [2, 1717488303500]]) },
      { s: 7, h: 112557316046848000n, y: 6, k: session, k2: '', b: 40, f: new Map([[1, 3]]) },
    ],
  };
  const want = pushBytes();
  assert.equal(want.length, 199 * 2);
  assert.equal(hex(encodeFrame(frame)), want);
});

test('pull and ping encode as the example shows', () => {
  assert.equal(hex(encodeFrame({ t: T.PULL, cur: 40, lim: 500 })), lineBytes('{"t": 5, "cur": 40, "lim": 500}'));
  assert.equal(hex(encodeFrame({ t: T.PING, n: 17 })), lineBytes('{"t": 9, "n": 17}'));
});

test('an ack decodes as the example shows', () => {
  const ack = decodeFrame(bytes(lineBytes('{"t": 4, "a": [[6, 7]]}')));
  assert.deepEqual(ack, { t: T.ACK, a: [[6, 7]], r: [] });
});

test('a changes frame decodes with BigInt HLCs and a field Map', () => {
  /* Built with the library's own writer, then read back: keys the server
   * adds (d, n) and the int field ids of f survive. */
  const frame = encodeFrame({ t: T.CHANGES, from: 40, cur: 41, more: false, ops: [] });
  assert.deepEqual(decodeFrame(frame), { t: T.CHANGES, from: 40, cur: 41, more: false, ops: [] });
  const op = bytes('87 a1 64 a1 41 a1 73 05 a1 6e 29 a1 68 cf 01 8f e2 47 bd 8c 00 00 a1 79 04 a1 6b a1 70'
    + ' a1 66 82 01 a6 46 61 74 69 6d 61 05 cf 00 00 01 8f e2 47 bd 8c');
  const changes = new Uint8Array([0x85, 0xa1, 0x74, 0x06, 0xa4, ...Buffer.from('from'), 0x28, 0xa3,
    ...Buffer.from('cur'), 0x29, 0xa4, ...Buffer.from('more'), 0xc2, 0xa3, ...Buffer.from('ops'), 0x91, ...op]);
  const c = decodeFrame(changes);
  assert.equal(c.ops.length, 1);
  const got = c.ops[0];
  assert.equal(got.d, 'A');
  assert.equal(got.n, 41);
  assert.equal(got.h, 112557313458176000n);
  assert.equal(got.k2, '');
  assert.deepEqual([...got.f.entries()], [[1, 'Fatima'], [5, 1717488303500]]);
});

test('what a server may not send is refused, not trusted', () => {
  const bad = [
    bytes('c1'),                                   /* never used */
    bytes('91 01'),                                /* not a map */
    bytes('81 a1 74 03'),                          /* a push from the server */
    bytes('82 a1 74 08 a1 63 a1 78'),              /* error code a string */
    bytes('84 a1 74 06 a4 66 72 6f 6d 00 a3 63 75 72 00 a4 6d 6f 72 65 c2'), /* changes without ops */
  ];
  for (const b of bad) assert.throws(() => decodeFrame(b), ProtocolError, hex(b));
});
