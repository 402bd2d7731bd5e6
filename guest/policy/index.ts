export { parsePolicy, type PolicyDocument, type PolicyRule } from './document.js';
export { PolicyEngine, type Decision } from './engine.js';
export { PolicyGate, rpcChannel } from './gate.js';
export { CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY, SHARED_COPY_PATH } from './defaults.js';
export * from './inspect.js';
