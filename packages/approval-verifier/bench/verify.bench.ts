/**
 * Verifications per second for v1 and legacy artifacts, against the built package
 * (`pnpm --filter @openexec/approval-verifier bench` builds first). Single-threaded,
 * sequential awaits: the figure a single request path can reach.
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import {
  legacyActionHash,
  legacySigningMessage,
  parseKeySet,
  payloadDigest,
  V1_APPROVAL_TYP,
  verifyApproval,
} from '../dist/index.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 5000);
const WARMUP = 500;

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const x = String(publicKey.export({ format: 'jwk' }).x);
const keys = parseKeySet({
  jwks: JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'bench', x }] }),
});
const now = new Date();
const nowS = Math.floor(now.getTime() / 1000);
const request = {
  action: 'echo',
  payload: { msg: 'hello', items: [1, 2, 3], nested: { a: true } },
  nonce: 'n-1',
};
const options = { now, tenant: 'tenant-001', keys };

const b64 = (s: string) => Buffer.from(s).toString('base64url');
const header = b64(JSON.stringify({ alg: 'EdDSA', typ: V1_APPROVAL_TYP, kid: 'bench' }));
const claims = b64(
  JSON.stringify({
    iss: 'approver-1',
    aud: 'tenant-001',
    jti: randomUUID(),
    iat: nowS,
    nbf: nowS,
    exp: nowS + 300,
    act: request.action,
    pdg: payloadDigest(request.payload),
    non: request.nonce,
  }),
);
const v1 = `${header}.${claims}.${sign(null, Buffer.from(`${header}.${claims}`), privateKey).toString('base64url')}`;

const iso = (s: number) => new Date(s * 1000).toISOString().slice(0, 19);
const fields = {
  approval_id: randomUUID(),
  tenant_id: 'tenant-001',
  action_hash: legacyActionHash(request.action, request.payload),
  issued_at: iso(nowS),
  expires_at: iso(nowS + 300),
};
const legacy = {
  ...fields,
  signature: sign(null, legacySigningMessage(fields), privateKey).toString('base64'),
};

async function measure(label: string, artifact: unknown): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await verifyApproval(artifact, request, options);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) await verifyApproval(artifact, request, options);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const perSecond = Math.round(ITERATIONS / seconds);
  const micros = ((seconds / ITERATIONS) * 1e6).toFixed(0);
  console.log(
    `${label.padEnd(8)} ${perSecond.toLocaleString('en-US')} verifications/s (${micros} µs each, n=${ITERATIONS})`,
  );
}

console.log(`node ${process.version}, ${ITERATIONS} iterations after ${WARMUP} warm-up`);
await measure('v1', v1);
await measure('legacy', legacy);
