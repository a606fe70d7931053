// Property-based fuzzing of the in-process parsers (the same properties the chaos suite runs 90,000+ times in
// full mode, bench/chaos/fuzz-props.ts), with small seeded counts; plus regression tests for the API status
// defects the suite's gRPC fuzzing found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzSetValues, fuzzSettingsDocuments, fuzzUnitToml } from '../../bench/chaos/fuzz-props.js';
import { MAX_DETAILS, safeDetails, toStatus, ValidationError } from '../../src/api/errors.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20260501);

test('unit spec TOML: parseUnit never throws or hangs; every rejection names a path', () => {
  const o = fuzzUnitToml(1500, SEED);
  assert.deepEqual(o.failures, []);
  assert.equal(o.cases, 1500);
});

test('settings documents: apply resolves or rejects naming the key, and a rejection changes nothing', async () => {
  const o = await fuzzSettingsDocuments(800, SEED);
  assert.deepEqual(o.failures, []);
});

test('settings set values: set resolves or rejects naming the key, and a rejection changes nothing', async () => {
  const o = await fuzzSetValues(800, SEED);
  assert.deepEqual(o.failures, []);
});

// Regression (chaos R4): a lone surrogate in an error message made grpc-js's encodeURI throw in berthd.
test('status details are always well-formed UTF-16 that encodeURI accepts', () => {
  for (const s of ['\uD806', 'a\uDC00b', `x${'\uD83D'}`, 'ok 😀', `${'é'.repeat(10)}\uD800`]) {
    const d = safeDetails(`invalid JSON: Unexpected token '${s}'`);
    assert.doesNotThrow(() => encodeURI(d), JSON.stringify(d));
  }
  assert.equal(safeDetails('plain'), 'plain');
});

// Regression (chaos R4): a 1 MiB name quoted in an error made a trailer the client refuses: the call hung.
test('long status details are cut, keeping the field that leads them', () => {
  const d = safeDetails(`name: workload ${JSON.stringify('A'.repeat(1 << 20))} not found`);
  assert.ok(d.length < MAX_DETAILS + 100, String(d.length));
  assert.match(d, /^name: workload "AAAA/);
  assert.doesNotThrow(() => encodeURI(safeDetails(`${'😀'.repeat(MAX_DETAILS)}`)));
});

// Regression (chaos R4): a validation error from another module carrying `path` but not leading with it.
test('INVALID_ARGUMENT details lead with the field', () => {
  const err = Object.assign(new Error('invalid image reference "AA": lowercase only'), { name: 'ReferenceValidationError', path: 'ref' });
  assert.equal(toStatus(err).details, 'ref: invalid image reference "AA": lowercase only');
  assert.equal(toStatus(new ValidationError('tx', 'bad')).details, 'tx: bad');
});
