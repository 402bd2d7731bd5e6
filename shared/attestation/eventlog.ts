/**
 * TCG crypto-agile event logs (TCG PC Client Platform Firmware Profile, "TCG_PCR_EVENT2"), as
 * found in TPM firmware logs and in the TDX CC event log (CCEL, same format, MR index 0 = MRTD,
 * 1..4 = RTMR0..3). Little-endian. Replay extends each register from zeros (PCR 0 from the
 * startup locality when a StartupLocality event says so) and skips EV_NO_ACTION.
 */
import { createHash } from 'node:crypto';
import { ByteReader, isAllZero } from './bytes.js';
import { fail, Reason } from './errors.js';
import { hashName, type HashName, HASH_SIZE } from './tpm/structures.js';

export const EV_NO_ACTION = 0x3;
export const MAX_EVENTS = 100_000;

export interface LogEvent {
  index: number;
  type: number;
  digests: Map<HashName, Uint8Array>;
  data: Uint8Array;
}

export interface EventLog {
  algorithms: { alg: number; size: number }[];
  events: LogEvent[];
  startupLocality: number;
}

const SPEC_ID = 'Spec ID Event03\0';

export function parseEventLog(buf: Uint8Array, what = 'event log'): EventLog {
  const r = new ByteReader(buf, what, true);
  // First event: TCG_PCClientPCREvent with the SHA-1 layout, holding the Spec ID event.
  r.u32('header.pcrIndex');
  const hType = r.u32('header.eventType');
  r.skip(20, 'header.digest');
  const hSize = r.u32('header.eventSize');
  const spec = new ByteReader(r.bytes(hSize, 'header.event'), `${what} Spec ID event`, true);
  if (hType !== EV_NO_ACTION || Buffer.from(spec.bytes(16, 'signature')).toString('latin1') !== SPEC_ID) {
    fail(Reason.Malformed, `${what}: first event is not a crypto-agile Spec ID Event03`);
  }
  spec.skip(8, 'platformClass/version/uintnSize');
  const n = spec.u32('numberOfAlgorithms');
  if (n === 0 || n > 16) fail(Reason.Malformed, `${what}: ${n} digest algorithms`);
  const algorithms: EventLog['algorithms'] = [];
  for (let i = 0; i < n; i++) algorithms.push({ alg: spec.u16(`digestSizes[${i}].algorithmId`), size: spec.u16(`digestSizes[${i}].digestSize`) });
  const sizeOf = new Map(algorithms.map((a) => [a.alg, a.size]));
  const events: LogEvent[] = [];
  let startupLocality = 0;
  while (r.remaining >= 8) {
    if (events.length >= MAX_EVENTS) fail(Reason.Malformed, `${what}: more than ${MAX_EVENTS} events`);
    const at = r.offset;
    const index = r.u32('pcrIndex');
    const type = r.u32('eventType');
    // Fixed-size log areas (CCEL) are padded with 0xFF or zeros after the last event.
    if ((index === 0xffffffff && type === 0xffffffff) || (index === 0 && type === 0 && isAllZero(buf.subarray(at, Math.min(buf.length, at + 64))))) break;
    const count = r.u32('digests.count');
    if (count > 16) fail(Reason.Malformed, `${what}: event ${events.length} has ${count} digests`);
    const digests = new Map<HashName, Uint8Array>();
    for (let i = 0; i < count; i++) {
      const alg = r.u16('digest.hashAlg');
      const size = sizeOf.get(alg);
      if (size === undefined) fail(Reason.Malformed, `${what}: event ${events.length} uses digest algorithm 0x${alg.toString(16)} not in the Spec ID event`);
      const d = r.bytes(size, 'digest');
      const name = hashName(alg);
      if (name) digests.set(name, d);
    }
    const size = r.u32('eventSize');
    const data = r.bytes(size, 'event');
    if (type === EV_NO_ACTION && index === 0 && data.length >= 17 && Buffer.from(data.subarray(0, 16)).toString('latin1') === 'StartupLocality\0') {
      startupLocality = data[16]!;
    }
    events.push({ index, type, digests, data });
  }
  return { algorithms, events, startupLocality };
}

/** Replays the log for one bank: register index -> final value, for registers with events. */
export function replay(log: EventLog, bank: HashName): Map<number, Uint8Array> {
  const size = HASH_SIZE[bank];
  const regs = new Map<number, Uint8Array>();
  for (const ev of log.events) {
    if (ev.type === EV_NO_ACTION) continue;
    const d = ev.digests.get(bank);
    if (!d) continue;
    let cur = regs.get(ev.index);
    if (!cur) {
      cur = new Uint8Array(size);
      if (ev.index === 0) cur[size - 1] = log.startupLocality;
    }
    regs.set(ev.index, new Uint8Array(createHash(bank).update(cur).update(d).digest()));
  }
  return regs;
}
