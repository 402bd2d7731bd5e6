// ESLint rule `cocolet/layering`: enforces the dependency rule of the design —
// host/ and guest/ never import each other, kbs/ imports neither, shared/ imports none of them —
// and, inside host/, the floors `cmd -> node -> {kubelet, shim} -> {cri, vmm}` (DESIGN.md, Layout).
import { dirname, resolve, relative, sep } from 'node:path';

/** For each top-level folder, the top-level folders it must not import from. */
export const FORBIDDEN = {
  host: ['guest', 'kbs'],
  guest: ['host', 'kbs'],
  kbs: ['host', 'guest'],
  shared: ['host', 'guest', 'kbs'],
};

/** host/'s sub-folders that only the floors above them may import. */
const HOST_FOLDERS = ['cmd', 'node', 'kubelet', 'shim', 'cri', 'vmm', 'cluster', 'containerd', 'images', 'policy'];

/**
 * For each sub-folder of host/, the sub-folders of host/ it must not import from: nothing imports
 * the entry points (cmd/); only they import the composition root (node/); the kubelet and the
 * shim know nothing of each other, nor the kubelet of the hypervisors; cri/ and vmm/ import
 * shared/ alone.
 */
export const HOST_FORBIDDEN = {
  node: ['cmd'],
  kubelet: ['cmd', 'node', 'shim', 'vmm'],
  shim: ['cmd', 'node', 'kubelet'],
  cri: HOST_FOLDERS.filter((f) => f !== 'cri'),
  vmm: HOST_FOLDERS.filter((f) => f !== 'vmm'),
  cluster: ['cmd', 'node'],
  containerd: ['cmd', 'node'],
  images: ['cmd', 'node'],
  policy: ['cmd', 'node'],
};

/** `host/kubelet/x.ts` -> ['host', 'kubelet']; files at a folder's top have no sub-folder. */
function place(root, file) {
  const rel = relative(root, file);
  if (rel.startsWith('..')) return [];
  const parts = rel.split(sep);
  return [parts[0], parts.length > 2 ? parts[1] : undefined];
}

export const layeringRule = {
  meta: {
    type: 'problem',
    docs: { description: 'host/, guest/, kbs/ and shared/ (and host/\'s sub-folders) import only what the design allows' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: {
      forbidden: '{{from}}/ must not import {{to}}/ ("{{source}}"): see the dependency rule in DESIGN.md',
    },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = context.filename;
    const [from, fromSub] = place(root, file);
    const banned = from ? FORBIDDEN[from] : undefined;
    const bannedSub = from === 'host' && fromSub ? HOST_FORBIDDEN[fromSub] : undefined;
    if (!banned && !bannedSub) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const [to, toSub] = place(root, resolve(dirname(file), source));
      if (to && banned?.includes(to)) {
        context.report({ node, messageId: 'forbidden', data: { from, to, source } });
      } else if (to === 'host' && toSub && bannedSub?.includes(toSub)) {
        context.report({ node, messageId: 'forbidden', data: { from: `host/${fromSub}`, to: `host/${toSub}`, source } });
      }
    };
    return {
      ImportDeclaration: (n) => check(n, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
      ExportAllDeclaration: (n) => check(n, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n, n.source.value),
      CallExpression: (n) => {
        if (n.callee.type === 'Identifier' && n.callee.name === 'require' && n.arguments[0]?.type === 'Literal') {
          check(n, n.arguments[0].value);
        }
      },
    };
  },
};

export default { rules: { layering: layeringRule } };
