// ESLint rule `cocolet/layering`: enforces the dependency rule of the design —
// host/ and guest/ never import each other, kbs/ imports neither, shared/ imports none of them.
import { dirname, resolve, relative, sep } from 'node:path';

/** For each top-level folder, the top-level folders it must not import from. */
export const FORBIDDEN = {
  host: ['guest', 'kbs'],
  guest: ['host', 'kbs'],
  kbs: ['host', 'guest'],
  shared: ['host', 'guest', 'kbs'],
};

function topFolder(root, file) {
  const rel = relative(root, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep)[0];
}

export const layeringRule = {
  meta: {
    type: 'problem',
    docs: { description: 'host/, guest/, kbs/ and shared/ import only what the design allows' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: {
      forbidden: '{{from}}/ must not import {{to}}/ ("{{source}}"): see the dependency rule in DESIGN.md',
    },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = context.filename;
    const from = topFolder(root, file);
    const banned = from ? FORBIDDEN[from] : undefined;
    if (!banned) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = topFolder(root, resolve(dirname(file), source));
      if (to && banned.includes(to)) {
        context.report({ node, messageId: 'forbidden', data: { from, to, source } });
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
