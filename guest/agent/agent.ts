/**
 * cocolet-agent: the in-TEE half. Start-up order matters: init-data is read and MEASURED (checked
 * against SNP HOSTDATA / TDX MRCONFIGID through configfs-tsm on those TEEs, else extended into PCR 8
 * of the vTPM when present) and the policy installed BEFORE any transport is opened, so no host
 * request is ever served under an unmeasured or absent policy.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uptime } from 'node:os';
import type { Logger } from 'pino';
import { AgentService } from '../../shared/gen/kata/agent_pb.js';
import { Health } from '../../shared/gen/kata/health_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { TtrpcServer } from '../../shared/ttrpc/index.js';
import { findInitdataDevice, readInitdataFile, type Initdata } from '../initdata/initdata.js';
import { checkInitdataBinding, readTsmReport } from '../initdata/bind.js';
import { digestOf } from '../initdata/builtins.js';
import { extendedValue, INITDATA_PCR, pcrExtend, pcrRead, tpmDevice } from '../initdata/tpm.js';
import { CONFIDENTIAL_DEFAULT_POLICY } from '../policy/defaults.js';
import { parsePolicy, type PolicyDocument } from '../policy/document.js';
import { PolicyGate } from '../policy/gate.js';
import type { ContainerManager } from '../runtime/containers.js';
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
}

/** Agent settings carried in init-data key `cocolet-agent.json` (measured with the rest). */
export interface AgentSettings {
  insecureRegistries?: string[];
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

export interface Measurement {
  source: 'tpm-pcr8' | 'snp-hostdata' | 'tdx-mrconfigid' | 'none';
  digest?: string;
  pcr8?: string;
}

export class Agent {
  private server: TtrpcServer | undefined;
  private transports: ServingTransport[] = [];
  private containers: ContainerManager | undefined;
  private containersLoading: Promise<ContainerManager> | undefined;
  initdata: Initdata | undefined;
  measurement: Measurement = { source: 'none' };

  constructor(private readonly o: AgentOptions) {}

  /** Reads init-data; measures it; returns the policy and settings it carries. */
  private loadInitdata(): { policy: PolicyDocument; settings: AgentSettings } {
    const log = this.o.logger;
    const id = this.o.initdataFile ? readInitdataFile(this.o.initdataFile) : this.o.processMode ? undefined : findInitdataDevice();
    this.initdata = id;
    if (!id) {
      log.info({ policy: CONFIDENTIAL_DEFAULT_POLICY.name }, 'no init-data; using the default confidential policy');
      return { policy: CONFIDENTIAL_DEFAULT_POLICY, settings: {} };
    }
    const tsm = this.o.processMode ? undefined : readTsmReport();
    const dev = this.o.processMode ? undefined : tpmDevice();
    if (tsm) {
      // Hardware TEE: the host put the digest into HOSTDATA / MRCONFIGID at launch; refuse on mismatch.
      const b = checkInitdataBinding(tsm.provider, tsm.outblob, id.digest);
      this.measurement = { source: b.tee === 'snp' ? 'snp-hostdata' : 'tdx-mrconfigid', digest: id.digest.toString('hex') };
      log.info({ algorithm: id.algorithm, digest: id.digest.toString('hex'), tee: b.tee, field: b.field }, 'init-data bound to the TEE report');
    } else if (dev) {
      // vTPM attesters bind init-data by extending PCR 8 with a SHA-256 digest of the TOML.
      const d = id.algorithm === 'sha256' ? id.digest : digestOf('sha256', id.raw);
      const before = pcrRead(dev, INITDATA_PCR);
      pcrExtend(dev, INITDATA_PCR, d);
      const after = pcrRead(dev, INITDATA_PCR);
      if (!after.equals(extendedValue(before, d))) throw new CocoletError(ErrorCode.Internal, 'PCR 8 did not take the init-data digest');
      this.measurement = { source: 'tpm-pcr8', digest: d.toString('hex'), pcr8: after.toString('hex') };
      log.info({ algorithm: id.algorithm, digest: id.digest.toString('hex'), pcr: INITDATA_PCR, pcrValue: after.toString('hex') }, 'init-data measured');
    } else {
      log.warn({ algorithm: id.algorithm, digest: id.digest.toString('hex'), processMode: this.o.processMode }, 'init-data not measured: no TPM');
    }
    if (id.data['policy.rego'] !== undefined && id.data[INITDATA_POLICY_KEY] === undefined) {
      throw new CocoletError(ErrorCode.PolicyInvalid, 'init-data carries a Rego policy; cocolet-agent needs policy.json');
    }
    const policy = id.data[INITDATA_POLICY_KEY] !== undefined ? parsePolicy(id.data[INITDATA_POLICY_KEY]) : CONFIDENTIAL_DEFAULT_POLICY;
    let settings: AgentSettings = {};
    if (id.data[INITDATA_SETTINGS_KEY] !== undefined) {
      try {
        settings = JSON.parse(id.data[INITDATA_SETTINGS_KEY]) as AgentSettings;
      } catch {
        throw new CocoletError(ErrorCode.ConfigInvalid, `init-data ${INITDATA_SETTINGS_KEY} is not JSON`);
      }
    }
    log.info({ policy: policy.name }, 'policy installed from init-data');
    return { policy, settings };
  }

  async start(): Promise<void> {
    const log = this.o.logger;
    log.info({ sinceProcessStartMs: Math.round(process.uptime() * 1000) }, 'agent starting');
    if (this.o.processMode) log.warn('agent running as a host process: NOT confidential (development only)');
    const { policy, settings } = this.loadInitdata();
    const gate = new PolicyGate(policy, log.child({ component: 'policy' }), this.o.processMode);
    mkdirSync(this.o.stateDir, { recursive: true });
    const copyRoot = this.o.processMode ? join(this.o.stateDir, 'guest-root') : '/';
    const noPivot = rootIsRamfs();
    // The container runtime (runc, image pull, unpacking) loads on the first request that needs it.
    const containers = (): Promise<ContainerManager> => (this.containersLoading ??= import('./runtime-loader.js').then((m) => {
      this.containers = m.createContainerManager({
        stateDir: this.o.stateDir, runcBinary: this.o.runcBinary, noPivot, insecureRegistries: settings.insecureRegistries ?? [],
        sharedRoot: copyRoot, processMode: this.o.processMode, gate, logger: log,
      });
      return this.containers;
    }));
    const server = new TtrpcServer({ logger: log, interceptors: [gate.interceptor()] });
    server.register(AgentService, createAgentService({
      containers, containerCount: () => this.containers?.size ?? 0, gate, logger: log,
      copyRoot,
      initDaemon: process.pid === 1,
    }));
    server.register(Health, createHealthService());
    this.server = server;
    this.transports = await serveTransports(server, this.o.transports, log);
    log.info({ transports: this.transports.map((t) => t.description), policy: policy.name, kernelUptimeMs: Math.round(uptime() * 1000), processUptimeMs: Math.round(process.uptime() * 1000) }, 'agent ready');
  }

  async stop(): Promise<void> {
    await this.server?.shutdown({ graceMs: 1000 });
    for (const t of this.transports) await t.close();
    await this.containers?.removeAll();
    this.containers?.dispose();
  }
}
