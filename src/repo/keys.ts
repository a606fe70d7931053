// berth-repo's signing keys: one ed25519 key per TUF role, kept as small JSON files in `DIR/keys/` with mode
// 0600 (they are the repository's whole authority; anyone who reads them can publish an update).

import { createHash, createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Key, Signature } from '@tufjs/models';
import { writeFileAtomic } from '../util/atomic-file.js';

export const ROLES = ['root', 'targets', 'snapshot', 'timestamp'] as const;
export type RoleName = (typeof ROLES)[number];

export interface SigningKey {
  readonly key: Key;
  readonly privateKey: KeyObject;
}

interface KeyFile {
  readonly keytype: 'ed25519';
  readonly scheme: 'ed25519';
  readonly keyid: string;
  readonly public: string;
  readonly private: string;
}

/** The public half as TUF metadata lists it; its id is the sha256 of its canonical JSON, as python-tuf computes it. */
function tufKey(publicHex: string): Key {
  // Canonical JSON of {keytype, keyval: {public}, scheme}: keys sorted, no spaces (hex needs no escaping).
  const canonical = `{"keytype":"ed25519","keyval":{"public":"${publicHex}"},"scheme":"ed25519"}`;
  const keyID = createHash('sha256').update(canonical).digest('hex');
  return new Key({ keyID, keyType: 'ed25519', scheme: 'ed25519', keyVal: { public: publicHex } });
}

export function generateKey(): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  // The raw 32-byte key is the last 32 bytes of its SPKI DER.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { key: tufKey(raw.toString('hex')), privateKey };
}

export function signer(k: SigningKey): (data: Buffer) => Signature {
  return (data) => new Signature({ keyID: k.key.keyID, sig: sign(null, data, k.privateKey).toString('hex') });
}

export function keyPath(dir: string, name: string): string {
  return join(dir, 'keys', `${name}.json`);
}

export async function saveKey(dir: string, name: string, k: SigningKey): Promise<void> {
  const file: KeyFile = {
    keytype: 'ed25519',
    scheme: 'ed25519',
    keyid: k.key.keyID,
    public: k.key.keyVal['public'] ?? '',
    private: k.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
  const path = keyPath(dir, name);
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  // Belt and braces: the atomic writer's temp file may have been made under a looser umask.
  await chmod(path, 0o600);
}

export async function loadKey(dir: string, name: string): Promise<SigningKey> {
  const path = keyPath(dir, name);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`key ${name}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const f = parsed as Partial<KeyFile>;
  if (typeof f.public !== 'string' || typeof f.private !== 'string') throw new Error(`key ${name}: ${path} has no public/private fields`);
  const key = tufKey(f.public);
  if (f.keyid !== undefined && f.keyid !== key.keyID) throw new Error(`key ${name}: ${path}: keyid does not match its public key`);
  return { key, privateKey: createPrivateKey(f.private) };
}
