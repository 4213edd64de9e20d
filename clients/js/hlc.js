// hlc.js — the device's hybrid logical clock (protocol/PROTOCOL.md 5.2):
// issuing HLCs for its own ops, following the ones it receives, and
// settling back to honest time after a clock that ran ahead.
//
// HLCs are BigInt: `ms << 16 | counter` passes 2^53.

export const MAX_AHEAD_MS = 60000;

export const hlcMs = (h) => Number(h >> 16n);

export class Hlc {
  /* last: the greatest HLC issued or seen; remote: the greatest HLC
   * received from the server (any device's, own ops included). */
  constructor(last = 0n, remote = 0n) {
    this.last = last;
    this.remote = remote;
  }

  /* The HLC of a new op at corrected wall-clock time nowMs. */
  next(nowMs) {
    const lastMs = this.last >> 16n;
    let physical = BigInt(Math.max(0, Math.floor(nowMs)));
    if (physical < lastMs) physical = lastMs;
    let counter = 0n;
    if (physical === lastMs) {
      counter = (this.last & 0xffffn) + 1n;
      if (counter > 0xffffn) {
        physical += 1n;
        counter = 0n;
      }
    }
    this.last = (physical << 16n) | counter;
    return this.last;
  }

  /* An op received from the server. */
  observe(h) {
    if (h > this.last) this.last = h;
    if (h > this.remote) this.remote = h;
  }

  /* Called once the outbox is empty: a clock that ran more than a minute
   * ahead comes back to now (but never below what was received). Returns
   * true when it moved. */
  settle(nowMs) {
    if (hlcMs(this.last) <= nowMs + MAX_AHEAD_MS) return false;
    const settled = BigInt(Math.max(0, Math.floor(nowMs))) << 16n;
    this.last = settled > this.remote ? settled : this.remote;
    return true;
  }
}
