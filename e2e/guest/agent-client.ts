/** Test helpers: a ttrpc client for the agent, init-data documents, CreateContainer requests. */
import { create } from '@bufbuild/protobuf';
import { AgentService, CreateContainerRequestSchema, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import { Health } from '../../shared/gen/kata/health_pb.js';
import { TtrpcClient, createClient, type TypedClient } from '../../shared/ttrpc/index.js';
import { waitFor } from '../../shared/testing/harness.js';

export interface AgentClient {
  conn: TtrpcClient;
  agent: TypedClient<typeof AgentService>;
  health: TypedClient<typeof Health>;
}

export async function connectAgent(socketPath: string, timeoutMs = 20_000): Promise<AgentClient> {
  const conn = await waitFor(() => TtrpcClient.connect(socketPath).catch(() => undefined), { what: `agent socket ${socketPath}`, timeoutMs });
  return { conn, agent: createClient(AgentService, conn), health: createClient(Health, conn) };
}

/** Init-data TOML with an optional policy document and agent settings. */
export function initdataToml(opts: { policy?: unknown; insecureRegistries?: string[] }): Buffer {
  const lines = ['version = "0.1.0"', 'algorithm = "sha256"', '[data]'];
  if (opts.policy) lines.push(`"policy.json" = '''${JSON.stringify(opts.policy)}'''`);
  if (opts.insecureRegistries) lines.push(`"cocolet-agent.json" = '''${JSON.stringify({ insecureRegistries: opts.insecureRegistries })}'''`);
  return Buffer.from(lines.join('\n') + '\n');
}

export function containerRequest(id: string, image: string, args: string[], extra: Record<string, unknown> = {}): CreateContainerRequest {
  const init = {
    containerId: id,
    execId: id,
    storages: [{ driver: 'image_guest_pull', source: image, mountPoint: `/run/kata-containers/${id}/rootfs` }],
    OCI: { Version: '1.0.2', Process: { Args: args, Env: ['PATH=/bin'], Cwd: '/' }, Root: { Path: 'rootfs' }, Hostname: 'pod' },
    ...extra,
  };
  return create(CreateContainerRequestSchema, init as Parameters<typeof create<typeof CreateContainerRequestSchema>>[1]);
}

/** Reads a process stream until EOF. */
export async function readAll(c: AgentClient, containerId: string, execId: string, which: 'stdout' | 'stderr'): Promise<string> {
  let out = '';
  for (let i = 0; i < 10_000; i++) {
    try {
      const r = which === 'stdout' ? await c.agent.readStdout({ containerId, execId, len: 65536 }) : await c.agent.readStderr({ containerId, execId, len: 65536 });
      out += Buffer.from(r.data).toString();
    } catch (e) {
      if ((e as Error).message.includes('EOF')) return out;
      throw e;
    }
  }
  return out;
}
