// Issue 19: fleet membership over mutual TLS. etcd here accepts only clients with a certificate from the test
// CA; berthd gets there only with fleet.etcd.ca/cert/key, and refuses https endpoints without them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { TestEtcdCluster } from '../support/etcd.js';
import { TestContainerd } from '../support/containerd.js';
import { TestBerthd } from '../support/berthd.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { BerthClient } from '../../src/cli/client.js';
import { hostKey } from '../../src/fleet/index.js';

let etcd: TestEtcdCluster;
let ctd: TestContainerd;
let b: TestBerthd;
let api: BerthClient;
let kv: Etcd3;

before(async () => {
  etcd = await TestEtcdCluster.start(1, { tls: true });
  const tls = etcd.tls!;
  kv = new Etcd3({ hosts: etcd.endpoints, credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.clientCert), privateKey: readFileSync(tls.clientKey) } });
  ctd = await TestContainerd.start();
  b = await TestBerthd.create({ containerd: ctd });
  await b.start();
  api = BerthClient.connect({ socketPath: b.socket });
});

after(async () => {
  api?.close();
  await b?.stop();
  kv?.close();
  await ctd?.stop();
  await etcd?.stop();
});

test('https endpoints without the TLS files are refused, naming the missing keys; nothing is set', async () => {
  await assert.rejects(
    api.settings.set({ 'fleet.etcd.endpoints': etcd.endpoints.join(','), 'fleet.group': 'tls' }),
    (e: Error) => /fleet\.etcd\.ca: required for https etcd endpoints/.test(e.message) && /fleet\.etcd\.key/.test(e.message),
  );
  assert.deepEqual(await api.settings.get('fleet'), {});
});

test('with ca, cert and key berthd registers over mutual TLS and reads the group for fleet status', async () => {
  const tls = etcd.tls!;
  await api.settings.set({
    'fleet.etcd.endpoints': etcd.endpoints.join(','), 'fleet.etcd.ca': tls.ca, 'fleet.etcd.cert': tls.clientCert,
    'fleet.etcd.key': tls.clientKey, 'fleet.group': 'tls', 'fleet.host-id': 'secure-1',
  });
  await waitFor(async () => (await kv.get(hostKey('tls', 'secure-1')).string()) !== null, 20_000, 'the host record over TLS');
  const out = await runCli(['--socket', b.socket, 'fleet', 'status', '-o', 'json']);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual((JSON.parse(out.stdout) as { hosts: { hostId: string }[] }).hosts.map((h) => h.hostId), ['secure-1']);
  // The key file's path is redacted like every secret; the others show.
  const shown = (await api.settings.get('fleet')) as { fleet: { etcd: Record<string, unknown> } };
  assert.equal(shown.fleet.etcd['key'], '<redacted>');
  assert.equal(shown.fleet.etcd['ca'], tls.ca);
});
