// The fleet simulation reads etcd's Prometheus counters (bench/fleet-sim/etcd-metrics.ts): the parsing and
// the per-method differences it reports must be right, or its "requests per host" figures are wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byMethod, parseLine, total, type Sample } from '../../bench/fleet-sim/etcd-metrics.js';
import { parseOptions, UsageError } from '../../bench/fleet-sim/options.js';

function sample(lines: string[]): Sample {
  const values = new Map<string, number>();
  for (const l of lines) {
    const p = parseLine(l);
    if (!p) continue;
    const key = `${p[0]}{${Object.entries(p[1]).map(([k, v]) => `${k}=${v}`).join(',')}}`;
    values.set(key, (values.get(key) ?? 0) + p[2]);
  }
  return { values, at: 0 };
}

test('Prometheus lines: name, labels and value; comments and blank lines skipped', () => {
  assert.deepEqual(parseLine('grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 42'),
    ['grpc_server_handled_total', { grpc_code: 'OK', grpc_method: 'Put', grpc_service: 'etcdserverpb.KV', grpc_type: 'unary' }, 42]);
  assert.deepEqual(parseLine('etcd_server_proposals_committed_total 1.5e+06'), ['etcd_server_proposals_committed_total', {}, 1_500_000]);
  assert.equal(parseLine('# TYPE x counter'), undefined);
  assert.equal(parseLine(''), undefined);
});

test('totals filter by label; differences are per method and only where a counter grew', () => {
  const before = sample([
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 10',
    'grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 100',
  ]);
  const after = sample([
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 25',
    'grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3',
    'grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1',
    'grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 160',
  ]);
  assert.equal(total(after, 'grpc_server_handled_total', { grpc_type: 'unary' }), 29);
  assert.equal(total(after, 'grpc_server_handled_total', { grpc_method: 'Put' }), 26);
  assert.deepEqual(byMethod(before, after, 'grpc_server_handled_total', { grpc_type: 'unary' }), { 'KV/Put': 16, 'KV/Range': 3 });
  assert.deepEqual(byMethod(before, after, 'grpc_server_msg_received_total'), { 'Lease/LeaseKeepAlive': 60 });
});

test('fleet-sim options: defaults, --quick, and bad values named', () => {
  const d = parseOptions([]);
  assert.equal(d.hosts, 1000);
  assert.equal(d.idleSeconds, 60);
  assert.equal(d.perHostConnections, true);
  const q = parseOptions(['--quick']);
  assert.equal(q.hosts, 50);
  assert.equal(parseOptions(['--quick', '--hosts', '7']).hosts, 7);
  assert.throws(() => parseOptions(['--hosts', '0']), (e: unknown) => e instanceof UsageError && /--hosts: expected a whole number from 1 to 100000, got "0"/.test(e.message));
  assert.throws(() => parseOptions(['--idle-seconds', '1.5']), /--idle-seconds/);
  assert.throws(() => parseOptions(['--nope']), /--nope/);
});
