/** The KBS protocol facts the data hub uses, from the broker's shared types (shared/kbs). */
export { KBS_PREFIX, KBS_PROTOCOL_VERSION, SESSION_COOKIE, errorKindOf, type Challenge, type TeePubKey } from '../../shared/kbs/protocol.js';
export { bindingDigest, bindingHashOf, type BindingHash } from '../../shared/kbs/binding.js';
