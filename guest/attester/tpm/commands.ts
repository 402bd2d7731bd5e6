/**
 * The few TPM 2.0 commands the attester needs, marshalled by hand (TCG TPM 2.0 Library, Part 2
 * structures and Part 3 commands; big-endian): CreatePrimary of an attestation key under the
 * endorsement hierarchy, ReadPublic, Quote, PCR_Read and FlushContext. Every command that needs
 * an authorisation uses one empty password session (TPM_RS_PW): the guest owns its TPM's
 * hierarchies with their default (empty) authorisation values.
 */
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';
import { TpmAlg } from '../../../shared/attestation/tpm/structures.js';
import type { TpmTransport } from './transport.js';

export const TPM_ST_NO_SESSIONS = 0x8001;
export const TPM_ST_SESSIONS = 0x8002;
export const TPM_RS_PW = 0x40000009;
export const TPM_RH_OWNER = 0x40000001;
export const TPM_RH_ENDORSEMENT = 0x4000000b;

export const CC = {
  CreatePrimary: 0x131,
  EvictControl: 0x120,
  FlushContext: 0x165,
  PCR_Extend: 0x182,
  PCR_Read: 0x17e,
  Quote: 0x158,
  ReadPublic: 0x173,
} as const;
type CommandName = keyof typeof CC;

/** Algorithm identifiers (TPM_ALG_ID): the verifier's table. */
export const ALG = TpmAlg;

/** TPMA_OBJECT bits of an attestation key. */
export const OBJECT = {
  fixedTPM: 1 << 1,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  noDA: 1 << 10,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** An AK in the usual shape (tpm2_createak's): restricted signing key made and kept inside the TPM. */
export const AK_ATTRIBUTES = OBJECT.fixedTPM | OBJECT.fixedParent | OBJECT.sensitiveDataOrigin | OBJECT.userWithAuth | OBJECT.restricted | OBJECT.sign;
/** What a key found at a persistent handle must have before it is used as the AK. */
export const AK_REQUIRED = OBJECT.fixedTPM | OBJECT.fixedParent | OBJECT.sensitiveDataOrigin | OBJECT.restricted | OBJECT.sign;

export const PCR_COUNT = 24;

/** Response codes that mean "try again" (TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING). */
const RETRY_CODES = new Set([0x922, 0x908, 0x90a]);

export class TpmCommandError extends CocoletError {
  constructor(
    readonly command: CommandName,
    readonly rc: number,
  ) {
    super(ErrorCode.Internal, `TPM2_${command} failed with response code 0x${rc.toString(16)}`, { context: { tpmCommand: command, tpmRc: rc } });
  }
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
function sized(data: Uint8Array): Buffer {
  return Buffer.concat([u16(data.length), data]);
}

/** One empty-password session: authorizationSize, handle, nonce, attributes (continueSession), hmac. */
const PASSWORD_SESSION = Buffer.concat([u32(9), u32(TPM_RS_PW), u16(0), Buffer.from([0x01]), u16(0)]);

export function command(name: CommandName, handles: number[], params: Uint8Array[], auth: boolean): Buffer {
  const body = Buffer.concat([...handles.map(u32), ...(auth ? [PASSWORD_SESSION] : []), ...params]);
  return Buffer.concat([u16(auth ? TPM_ST_SESSIONS : TPM_ST_NO_SESSIONS), u32(10 + body.length), u32(CC[name]), body]);
}

/** A bounds-checked reader over a response; running past the end is a malformed response. */
export class Reader {
  constructor(
    private readonly b: Buffer,
    private readonly what: string,
    public pos = 0,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new CocoletError(ErrorCode.Internal, `TPM ${this.what}: response is truncated at offset ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(v);
  }
  sized(): Buffer {
    return this.bytes(this.u16());
  }
}

/** Sends a command; retries the TPM's "busy" answers a few times; throws on any other non-zero code. */
export async function run(t: TpmTransport, name: CommandName, cmd: Buffer): Promise<Buffer> {
  for (let attempt = 0; ; attempt++) {
    const r = await t.transmit(cmd);
    if (r.length < 10) throw new CocoletError(ErrorCode.Internal, `TPM2_${name}: response of ${r.length} bytes is shorter than a header`);
    const rc = r.readUInt32BE(6);
    if (rc === 0) return r;
    if (!RETRY_CODES.has(rc) || attempt >= 5) throw new TpmCommandError(name, rc);
  }
}

/** The RSA-2048 RSASSA-SHA256 AK template (TPMT_PUBLIC with an empty unique field). */
export function rsaAkTemplate(): Buffer {
  return Buffer.concat([
    u16(ALG.RSA),
    u16(ALG.SHA256),
    u32(AK_ATTRIBUTES),
    u16(0), // authPolicy
    u16(ALG.NULL), // symmetric
    u16(ALG.RSASSA),
    u16(ALG.SHA256),
    u16(2048),
    u32(0), // exponent: default 65537
    u16(0), // unique
  ]);
}

/** The ECC P-256 ECDSA-SHA256 AK template. */
export function eccAkTemplate(): Buffer {
  return Buffer.concat([
    u16(ALG.ECC),
    u16(ALG.SHA256),
    u32(AK_ATTRIBUTES),
    u16(0),
    u16(ALG.NULL),
    u16(ALG.ECDSA),
    u16(ALG.SHA256),
    u16(0x0003), // TPM_ECC_NIST_P256
    u16(ALG.NULL), // kdf
    u16(0),
    u16(0),
  ]);
}

export interface PublicArea {
  /** The TPMT_PUBLIC bytes. */
  raw: Buffer;
  type: number;
  attributes: number;
  /** Signing scheme and its hash (ALG.NULL when the key has none). */
  scheme: number;
  schemeHash: number;
  rsa?: { bits: number; exponent: number; modulus: Buffer };
  ecc?: { curve: number; x: Buffer; y: Buffer };
}

export function parsePublicArea(raw: Buffer): PublicArea {
  const r = new Reader(raw, 'TPMT_PUBLIC');
  const type = r.u16();
  r.u16(); // nameAlg
  const attributes = r.u32();
  r.sized(); // authPolicy
  const sym = r.u16();
  if (sym !== ALG.NULL) r.bytes(4);
  const scheme = r.u16();
  const schemeHash = scheme === ALG.NULL ? ALG.NULL : r.u16();
  const out: PublicArea = { raw, type, attributes, scheme, schemeHash };
  if (type === ALG.RSA) {
    const bits = r.u16();
    const exponent = r.u32();
    out.rsa = { bits, exponent: exponent === 0 ? 65537 : exponent, modulus: r.sized() };
  } else if (type === ALG.ECC) {
    const curve = r.u16();
    const kdf = r.u16();
    if (kdf !== ALG.NULL) r.u16();
    out.ecc = { curve, x: r.sized(), y: r.sized() };
  } else {
    throw new CocoletError(ErrorCode.Unimplemented, `TPM key type 0x${type.toString(16)} is neither RSA nor ECC`);
  }
  return out;
}

export interface LoadedKey {
  handle: number;
  public: PublicArea;
}

/** TPM2_CreatePrimary under `hierarchy`: the same template on the same TPM yields the same key. */
export async function createPrimary(t: TpmTransport, template: Buffer, hierarchy = TPM_RH_ENDORSEMENT): Promise<LoadedKey> {
  const inSensitive = sized(Buffer.concat([u16(0), u16(0)]));
  const cmd = command('CreatePrimary', [hierarchy], [inSensitive, sized(template), u16(0), u32(0)], true);
  const r = new Reader(await run(t, 'CreatePrimary', cmd), 'CreatePrimary', 10);
  const handle = r.u32();
  r.u32(); // parameterSize
  return { handle, public: parsePublicArea(r.sized()) };
}

/** TPM2_ReadPublic of a loaded or persistent object. */
export async function readPublic(t: TpmTransport, handle: number): Promise<PublicArea> {
  const r = new Reader(await run(t, 'ReadPublic', command('ReadPublic', [handle], [], false)), 'ReadPublic', 10);
  return parsePublicArea(r.sized());
}

export async function flushContext(t: TpmTransport, handle: number): Promise<void> {
  await run(t, 'FlushContext', command('FlushContext', [], [u32(handle)], false));
}

/** TPM2_EvictControl: makes the transient `handle` persistent at `persistent` (owner authorisation). */
export async function evictControl(t: TpmTransport, handle: number, persistent: number): Promise<void> {
  await run(t, 'EvictControl', command('EvictControl', [TPM_RH_OWNER, handle], [u32(persistent)], true));
}

/** TPM2_PCR_Extend of a SHA-256 PCR (platform authorisation not needed for PCRs 0-15 in swtpm; empty password). */
export async function pcrExtend(t: TpmTransport, pcr: number, sha256Digest: Uint8Array): Promise<void> {
  if (sha256Digest.length !== 32) throw new CocoletError(ErrorCode.InvalidArgument, 'PCR_Extend needs a 32-byte SHA-256 digest');
  await run(t, 'PCR_Extend', command('PCR_Extend', [pcr], [u32(1), u16(ALG.SHA256), sha256Digest], true));
}

/** TPML_PCR_SELECTION of one SHA-256 bank with the given PCRs. */
export function pcrSelection(pcrs: readonly number[]): Buffer {
  const bits = Buffer.alloc(3);
  for (const p of pcrs) bits[p >> 3]! |= 1 << (p & 7);
  return Buffer.concat([u32(1), u16(ALG.SHA256), Buffer.from([3]), bits]);
}

function selectedPcrs(r: Reader): number[] {
  const count = r.u32();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16();
    const size = r.u8();
    const bits = r.bytes(size);
    if (hash !== ALG.SHA256) continue;
    for (let b = 0; b < bits.length; b++) for (let k = 0; k < 8; k++) if ((bits[b]! >> k) & 1) out.push(b * 8 + k);
  }
  return out;
}

/** All 24 SHA-256 PCRs (a TPM answers at most 8 per PCR_Read, so this loops). */
export async function pcrReadAll(t: TpmTransport): Promise<Buffer[]> {
  const values: Buffer[] = new Array<Buffer>(PCR_COUNT);
  let want = Array.from({ length: PCR_COUNT }, (_, i) => i);
  while (want.length > 0) {
    const r = new Reader(await run(t, 'PCR_Read', command('PCR_Read', [], [pcrSelection(want)], false)), 'PCR_Read', 10);
    r.u32(); // pcrUpdateCounter
    const got = selectedPcrs(r);
    const n = r.u32();
    // The TPM is the host's in the development TEE: every answer must make progress on what was asked.
    if (n !== got.length || n === 0) throw new CocoletError(ErrorCode.Internal, `TPM2_PCR_Read returned ${n} digests for ${got.length} selected PCRs`);
    if (got.some((p) => !want.includes(p))) throw new CocoletError(ErrorCode.Internal, 'TPM2_PCR_Read returned PCRs that were not asked for');
    for (const p of got) {
      const v = r.sized();
      if (v.length !== 32) throw new CocoletError(ErrorCode.Internal, `TPM2_PCR_Read returned a ${v.length}-byte SHA-256 value for PCR ${p}`);
      values[p] = v;
    }
    want = want.filter((p) => !got.includes(p));
  }
  return values;
}

export interface Quote {
  /** TPMS_ATTEST bytes (what the signature covers). */
  attest: Buffer;
  /** TPMT_SIGNATURE bytes, as marshalled by the TPM. */
  signature: Buffer;
}

/** TPM2_Quote over the SHA-256 PCRs `pcrs` with `qualifyingData`, signed with the key's own scheme. */
export async function quote(t: TpmTransport, ak: number, qualifyingData: Uint8Array, pcrs: readonly number[]): Promise<Quote> {
  const cmd = command('Quote', [ak], [sized(qualifyingData), u16(ALG.NULL), pcrSelection(pcrs)], true);
  const r = new Reader(await run(t, 'Quote', cmd), 'Quote', 10);
  r.u32(); // parameterSize
  const attest = r.sized();
  const start = r.pos;
  const sigAlg = r.u16();
  if (sigAlg === ALG.RSASSA || sigAlg === ALG.RSAPSS) {
    r.u16();
    r.sized();
  } else if (sigAlg === ALG.ECDSA) {
    r.u16();
    r.sized();
    r.sized();
  } else {
    throw new CocoletError(ErrorCode.Unimplemented, `TPM2_Quote signature algorithm 0x${sigAlg.toString(16)} is not RSASSA, RSAPSS or ECDSA`);
  }
  const end = r.pos;
  r.pos = start;
  return { attest, signature: r.bytes(end - start) };
}
