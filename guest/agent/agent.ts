/**
 * cocolet-agent: the in-TEE half. Start-up order matters:
 * 1. init-data is read and parsed (policy, settings);
 * 2. the transports open behind the measurement lock (agent/lock.ts): Health and GetGuestDetails
 *    answer, every other request waits;
 * 3. init-data is MEASURED (initdata/measure.ts: SNP HOSTDATA / TDX MRCONFIGID through
 *    configfs-tsm, else PCR 8 of the development TEE's vTPM) and the lock opens. Any error on
 *    that path refuses the waiting requests with the reason and stops the agent (fatal line on the
 *    console, exit 1; in the VM /init then powers off).
 *
 * A confidential sandbox is the agent in a VM (everything but the process hypervisor's agent):
 * it is reachable only through the virtio-serial port and refuses to serve unmeasured. The
 * process agent (COCOLET_AGENT_INSECURE_PROCESS=1) runs on the host, is NOT confidential, says so,
 * and measures nothing.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uptime } from 'node:os';
import type { Logger } from 'pino';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { Health } from '../../shared/gen/kata/health_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { TtrpcServer } from '../../shared/ttrpc/index.js';
import { installStringInterner } from '../../shared/ttrpc/intern.js';
import { findInitdataDevice, readInitdataFile, type Initdata } from '../initdata/initdata.js';
import { measureInitdata, type InitdataMeasurement, type MeasureOptions } from '../initdata/measure.js';
import { CONFIDENTIAL_DEFAULT_POLICY, builtinPolicyDigest } from '../policy/defaults.js';
import { parsePolicy, type PolicyDocument } from '../policy/document.js';
import { PolicyGate } from '../policy/gate.js';
import { POLICY_INTERNER } from '../policy/vocabulary.js';
import type { ContainerManager } from '../runtime/containers.js';
import { MeasurementLock } from './lock.js';
import type { GuestNetwork } from './network/network.js';
import { ContainerSecrets, dataHubFactory } from './secrets.js';
import { createAgentService, createHealthService } from './service.js';
import { serveTransports, type ServingTransport } from './transports.js';

export interface AgentOptions {
  /** Transport specs (see transports.ts). */
  transports: string[];
  stateDir: string;
  /** Process mode: init-data file instead of the block device; never touches the host's TPM or /run. */
  processMode: boolean;
  initdataFile?: string;
  runcBinary?: string;
  logger: Logger;
  /** Overrides for the measurement (unit tests: a fake TPM, a fake configfs-tsm). */
  measure?: Partial<Omit<MeasureOptions, 'logger' | 'builtinPolicyDigest'>>;
}

/** Agent settings carried in init-data key `cocolet-agent.json` (measured with the rest). */
export interface AgentSettings {
  insecureRegistries?: string[];
  /** Registry host → host[:port] of a mirror that serves its images (e.g. the node's registry as 10.0.2.2:PORT). */
  registryMirrors?: Record<string, string>;
}

const HOST_PORT = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/;

/** Parses and checks the `cocolet-agent.json` settings; throws naming the bad field. */
export function parseAgentSettings(text: string): AgentSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CocoletError(ErrorCode.ConfigInvalid, `init-data ${INITDATA_SETTINGS_KEY} is not JSON`);
  }
  const bad = (field: string): CocoletError => new CocoletError(ErrorCode.ConfigInvalid, `init-data ${INITDATA_SETTINGS_KEY}: ${field} must be ${field === 'insecureRegistries' ? 'a list of host[:port]' : 'an object of registry host to mirror host[:port]'}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CocoletError(ErrorCode.ConfigInvalid, `init-data ${INITDATA_SETTINGS_KEY} is not a JSON object`);
  const { insecureRegistries, registryMirrors } = raw as Record<string, unknown>;
  const settings: AgentSettings = {};
  if (insecureRegistries !== undefined) {
    if (!Array.isArray(insecureRegistries) || !insecureRegistries.every((h) => typeof h === 'string' && HOST_PORT.test(h))) throw bad('insecureRegistries');
    settings.insecureRegistries = insecureRegistries as string[];
  }
  if (registryMirrors !== undefined) {
    if (typeof registryMirrors !== 'object' || registryMirrors === null || Array.isArray(registryMirrors)) throw bad('registryMirrors');
    const entries = Object.entries(registryMirrors);
    if (!entries.every(([k, v]) => HOST_PORT.test(k) && typeof v === 'string' && HOST_PORT.test(v))) throw bad('registryMirrors');
    settings.registryMirrors = Object.fromEntries(entries) as Record<string, string>;
  }
  return settings;
}

export const INITDATA_POLICY_KEY = 'policy.json';
export const INITDATA_SETTINGS_KEY = 'cocolet-agent.json';

/** True when / is the initramfs rootfs (pivot_root is impossible there). */
export function rootIsRamfs(): boolean {
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const sep = f.indexOf('-');
      if (f[4] === '/' && sep > 0 && f[sep + 1] === 'rootfs') return true;
    }
  } catch {
    /* no procfs */
  }
  return false;
}

export { builtinPolicyDigest };

/** What GetGuestDetails reports about the TEE and the measurement (no secrets: the host knows all of it). */
export function teeFeatures(processMode: boolean, lock: MeasurementLock, m: InitdataMeasurement | undefined): string[] {
  if (processMode) return ['tee:none (host process, not confidential)', 'initdata:unmeasured'];
  const s = lock.state;
  if (s.state === 'failed') return ['initdata:failed'];
  if (!m) return ['initdata:pending'];
  return [m.tee === 'dev' ? 'tee:dev (not confidential)' : `tee:${m.tee}`, `initdata:${m.register}`];
}

export class Agent {
  private server: TtrpcServer | undefined;
  private transports: ServingTransport[] = [];
  private containers: ContainerManager | undefined;
  private containersLoading: Promise<ContainerManager> | undefined;
  private networkLoading: Promise<GuestNetwork> | undefined;
  readonly lock = new MeasurementLock();
  initdata: Initdata | undefined;
  measurement: InitdataMeasurement | undefined;

  constructor(private readonly o: AgentOptions) {}

  /** The confidential agent serves only the host channel (virtio-serial): no TCP, no unix socket a container could reach. */
  private checkTransports(): void {
    if (this.o.processMode) return;
    const bad = this.o.transports.find((t) => !(t === 'auto' || t === 'virtio' || t.startsWith('virtio:')));
    if (bad) throw new CocoletError(ErrorCode.ConfigInvalid, `transport ${bad} refused: a confidential agent is reachable only through the virtio-serial port (auto, virtio[:name])`);
  }

  /** Reads and parses init-data (not yet measured); returns the policy and settings it carries. */
  private readInitdata(): { policy: PolicyDocument; settings: AgentSettings } {
    const log = this.o.logger;
    const id = this.o.initdataFile ? readInitdataFile(this.o.initdataFile) : this.o.processMode ? undefined : findInitdataDevice();
    this.initdata = id;
    if (!id) {
      log.info({ policy: CONFIDENTIAL_DEFAULT_POLICY.name }, 'no init-data; using the built-in default policy');
      return { policy: CONFIDENTIAL_DEFAULT_POLICY, settings: {} };
    }
    if (id.data['policy.rego'] !== undefined && id.data[INITDATA_POLICY_KEY] === undefined) {
      throw new CocoletError(ErrorCode.PolicyInvalid, 'init-data carries a Rego policy; cocolet-agent needs policy.json');
    }
    const policy = id.data[INITDATA_POLICY_KEY] !== undefined ? parsePolicy(id.data[INITDATA_POLICY_KEY]) : CONFIDENTIAL_DEFAULT_POLICY;
    const settings = id.data[INITDATA_SETTINGS_KEY] !== undefined ? parseAgentSettings(id.data[INITDATA_SETTINGS_KEY]) : {};
    log.info({ policy: policy.name, algorithm: id.algorithm, digest: id.digest.toString('hex') }, 'init-data read; policy loaded (in force once measured)');
    return { policy, settings };
  }

  /** Measures init-data and opens the lock; on any error fails the lock (waiting requests get the reason) and throws. */
  private measure(): void {
    const log = this.o.logger;
    if (this.o.processMode) {
      log.warn({ initdata: Boolean(this.initdata) }, 'init-data not measured: the process agent runs on the host and is NOT confidential');
      this.lock.open();
      return;
    }
    try {
      this.measurement = measureInitdata(this.initdata, { ...this.o.measure, builtinPolicyDigest: builtinPolicyDigest(), logger: log });
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.lock.fail(reason);
      throw e;
    }
    this.lock.open();
  }

  async start(): Promise<void> {
    const log = this.o.logger;
    // (the process hypervisor may run it from a startup snapshot of its bundle: shared/build/agent-snapshot.ts)
    log.info({ sinceProcessStartMs: Math.round(process.uptime() * 1000), ...(process.execArgv.includes('--snapshot-blob') ? { snapshot: true } : {}) }, 'agent starting');
    if (this.o.processMode) log.warn('agent running as a host process: NOT confidential (development only)');
    this.checkTransports();
    const { policy, settings } = this.readInitdata();
    const gate = new PolicyGate(policy, log.child({ component: 'policy' }), this.o.processMode);
    mkdirSync(this.o.stateDir, { recursive: true });
    const copyRoot = this.o.processMode ? join(this.o.stateDir, 'guest-root') : '/';
    const noPivot = rootIsRamfs();
    // The container runtime (runc, image pull, unpacking) loads on the first request that needs it.
    const containers = (): Promise<ContainerManager> => (this.containersLoading ??= import('./runtime-loader.js').then((m) => {
      this.containers = m.createContainerManager({
        stateDir: this.o.stateDir, runcBinary: this.o.runcBinary, noPivot, insecureRegistries: settings.insecureRegistries ?? [], registryMirrors: settings.registryMirrors ?? {},
        sharedRoot: copyRoot, processMode: this.o.processMode, gate, logger: log,
        secrets: new ContainerSecrets({ hub: dataHubFactory(() => this.initdata, log), logger: log }),
      });
      return this.containers;
    }));
    // requests are decoded handing out the policy's fixed words as its own strings (compared by identity)
    installStringInterner(POLICY_INTERNER);
    const server = new TtrpcServer({ logger: log, interceptors: [this.lock.interceptor(), gate.interceptor()] });
    server.register(AgentService, createAgentService({
      containers, containerCount: () => this.containers?.size ?? 0, gate, logger: log,
      copyRoot,
      initDaemon: process.pid === 1,
      features: () => teeFeatures(this.o.processMode, this.lock, this.measurement),
      outputDiscarded: () => this.containers?.discardedOutput() ?? { stdout: 0, stderr: 0 },
      network: () => (this.networkLoading ??= import('./network/network.js').then((m) => new m.GuestNetwork({ logger: log.child({ component: 'network' }), processMode: this.o.processMode }))),
    }));
    server.register(Health, createHealthService());
    this.server = server;
    this.transports = await serveTransports(server, this.o.transports, log);
    try {
      this.measure();
    } catch (e) {
      // waiting requests are answered with the reason before the transports close
      await this.stop();
      throw e;
    }
    log.info({ transports: this.transports.map((t) => t.description), policy: policy.name, tee: this.measurement?.tee ?? 'none (host process)', kernelUptimeMs: Math.round(uptime() * 1000), processUptimeMs: Math.round(process.uptime() * 1000) }, 'agent ready');
  }

  async stop(): Promise<void> {
    await this.server?.shutdown({ graceMs: 1000 });
    for (const t of this.transports) await t.close();
    await this.containers?.removeAll();
    this.containers?.dispose();
  }
}
