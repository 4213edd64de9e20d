// ids.js — ids a device makes without asking anyone (PROTOCOL.md 5.1):
// UUIDv7 in canonical text form, time-ordered so records sort by creation.

/* A UUIDv7 for wall-clock time ms: 48 bits of time, version 7, 74 random
 * bits, variant 10. */
export function uuidv7(ms = Date.now()) {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let t = Math.max(0, Math.floor(ms));
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
