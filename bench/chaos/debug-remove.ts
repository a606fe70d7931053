import { TestContainerd } from '../../tests/support/containerd.js';
import { TestBerthd } from '../../tests/support/berthd.js';
import { BerthClient } from '../../src/cli/client.js';
const ctd = await TestContainerd.start();
const b = await TestBerthd.create({ containerd: ctd });
try {
  await b.start();
  const c = BerthClient.connect({ socketPath: b.socket });
  for (const ref of ['A', 'A'.repeat(1 << 20), 'A', 'zzz']) {
    const t0 = Date.now();
    console.log(ref.length, await c.images.remove(ref, { timeoutMs: 15000 }).catch((e) => String(e.message).slice(0, 80)), Date.now() - t0, 'ms');
  }
  c.close();
} finally {
  await b.stop();
  await ctd.stop();
}
