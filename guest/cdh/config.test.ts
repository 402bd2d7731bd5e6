/** Broker configuration from init-data and resource URIs: what is accepted, and what is refused and why. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kbsConfigFromInitdata } from './config.js';
import { parseResourceUri } from './resource-uri.js';

// A self-signed P-256 certificate made for this test (openssl req -x509 -subj /CN=kbs).
const CERT = `-----BEGIN CERTIFICATE-----
MIIBcTCCARegAwIBAgIUCXFEt+AjjOHCDmrt7GXYXGHBatswCgYIKoZIzj0EAwIw
DjEMMAoGA1UEAwwDa2JzMB4XDTI2MTIwMzExNTkxNVoXDTM2MTEzMDExNTkxNVow
DjEMMAoGA1UEAwwDa2JzMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE40zRAE7B
7Os2DumpGDsD/8nKFtFHMFsvdZZYy3VXweR4atULg2FZGIfTdqdW65gkB6XDT+wg
3evxu2oJXVv5HaNTMFEwHQYDVR0OBBYEFG+UKUf+hAYW/sLTK316bdMjI0oVMB8G
A1UdIwQYMBaAFG+UKUf+hAYW/sLTK316bdMjI0oVMA8GA1UdEwEB/wQFMAMBAf8w
CgYIKoZIzj0EAwIDSAAwRQIhAO88uH+m7MLfT6T7ErIX0dJCCs0QPs6vg2/WWlBs
3QKJAiABw7anM5ZI119LZFX7YaUl4dsUMoxtB1tFdhpJ/3znIw==
-----END CERTIFICATE-----`;

const cdh = (url: string, cert = CERT) => `socket = 'unix:///run/cdh.sock'\n[kbc]\nname = 'cc_kbc'\nurl = '${url}'\nkbs_cert = '''\n${cert}\n'''\n`;
const aa = (url: string, cert = CERT) => `[token_configs]\n[token_configs.kbs]\nurl = '${url}'\ncert = '''\n${cert}\n'''\n`;

test('cdh.toml [kbc] names the broker and its certificate', () => {
  const c = kbsConfigFromInitdata({ 'cdh.toml': cdh('https://kbs.example:8080') });
  assert.deepEqual(c && { url: c.url, source: c.source, hasCert: c.cert?.includes('BEGIN CERTIFICATE') }, { url: 'https://kbs.example:8080', source: 'cdh.toml', hasCert: true });
});

test('aa.toml [token_configs.kbs] alone is enough; both must agree', () => {
  assert.equal(kbsConfigFromInitdata({ 'aa.toml': aa('https://10.0.0.1:8080') })?.source, 'aa.toml');
  assert.equal(kbsConfigFromInitdata({ 'aa.toml': aa('https://10.0.0.1:8080/'), 'cdh.toml': cdh('https://10.0.0.1:8080') })?.url, 'https://10.0.0.1:8080');
});

test('no broker named: undefined (the pod gets no broker secrets)', () => {
  assert.equal(kbsConfigFromInitdata({ 'policy.json': '{}' }), undefined);
  assert.equal(kbsConfigFromInitdata({ 'cdh.toml': "[kbc]\nname = 'cc_kbc'\nurl = ''\n" }), undefined);
});

const refused: { name: string; data: Record<string, string>; allowHttp?: boolean; msg: RegExp }[] = [
  { name: 'brokers that disagree', data: { 'cdh.toml': cdh('https://a:1'), 'aa.toml': aa('https://b:1') }, msg: /different brokers/ },
  { name: 'certificates that disagree', data: { 'cdh.toml': cdh('https://a:1'), 'aa.toml': aa('https://a:1', CERT.replace('MIIB', 'MIIC')) }, msg: /different broker certificates/ },
  { name: 'https without a certificate', data: { 'cdh.toml': "[kbc]\nurl = 'https://a:1'\n" }, msg: /needs its certificate/ },
  { name: 'a certificate that is not PEM', data: { 'cdh.toml': cdh('https://a:1', 'hello') }, msg: /not PEM/ },
  { name: 'a certificate that does not parse', data: { 'cdh.toml': cdh('https://a:1', CERT.replace(/MIIB.{20}/, 'AAAA')) }, msg: /does not parse/ },
  { name: 'plain http by default', data: { 'cdh.toml': "[kbc]\nurl = 'http://a:1'\n" }, msg: /scheme http: is not https/ },
  { name: 'a URL with a path', data: { 'cdh.toml': cdh('https://a:1/kbs') }, msg: /must be an origin/ },
  { name: 'another KBS client', data: { 'cdh.toml': "[kbc]\nname = 'offline_fs_kbc'\nurl = 'https://a:1'\n" }, msg: /not cc_kbc/ },
  { name: 'cdh.toml that is not TOML', data: { 'cdh.toml': '[kbc' }, msg: /cdh.toml is not TOML/ },
];
for (const c of refused) {
  test(`init-data broker configuration is refused: ${c.name}`, () => {
    assert.throws(() => kbsConfigFromInitdata(c.data, { allowHttp: c.allowHttp }), (e: Error & { code?: string }) => e.code === 'COCOLET_CONFIG_INVALID' && c.msg.test(e.message));
  });
}

test('plain http only when allowed', () => {
  assert.equal(kbsConfigFromInitdata({ 'cdh.toml': "[kbc]\nurl = 'http://127.0.0.1:8080'\n" }, { allowHttp: true })?.url, 'http://127.0.0.1:8080');
});

const uris: { uri: string; broker?: string; ok?: string; msg?: RegExp }[] = [
  { uri: 'kbs:///default/key/one', ok: 'default/key/one' },
  { uri: 'kbs://kbs.example:8080/default/key/one', broker: 'https://kbs.example:8080', ok: 'default/key/one' },
  { uri: 'kbs://KBS.example:443/a/b/c', broker: 'https://kbs.example', ok: 'a/b/c' },
  { uri: 'kbs://evil.example:8080/default/key/one', broker: 'https://kbs.example:8080', msg: /not the one init-data configures/ },
  { uri: 'kbs://kbs.example:9999/default/key/one', broker: 'https://kbs.example:8080', msg: /not the one init-data configures/ },
  { uri: 'kbs://kbs.example/default/key/one', msg: /no broker is configured/ },
  { uri: 'kbs:///a/b', msg: /2 path segments/ },
  { uri: 'kbs:///a/b/c/d', msg: /4 path segments/ },
  { uri: 'kbs:///a/../c', msg: /segments may only hold/ },
  { uri: 'kbs:///a/b/c%2f', msg: /segments may only hold/ },
  { uri: 'kbs:///a/b/c?x=1', msg: /queries/ },
  { uri: 'kbs+plugin:///a/b/c', msg: /only the resource plugin/ },
  { uri: 'https://x/a/b/c', msg: /is not kbs:/ },
];
for (const c of uris) {
  test(`resource URI ${c.uri}${c.broker ? ` (broker ${c.broker})` : ''}: ${c.ok ? 'accepted' : 'refused'}`, () => {
    if (c.ok) {
      const r = parseResourceUri(c.uri, c.broker);
      assert.equal(`${r.repository}/${r.type}/${r.tag}`, c.ok);
    } else {
      assert.throws(() => parseResourceUri(c.uri, c.broker), (e: Error & { code?: string }) => e.code === 'COCOLET_INVALID_ARGUMENT' && c.msg!.test(e.message));
    }
  });
}
