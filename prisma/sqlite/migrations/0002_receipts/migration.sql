-- Signed receipts: one hash chain per signing process, gap-free seq, appended in the same
-- transaction as the outcome each records.
CREATE TABLE "receipts" (
  "chain" TEXT NOT NULL,
  "seq" BIGINT NOT NULL CHECK ("seq" >= 1),
  "hash" TEXT NOT NULL,
  "execution_id" TEXT,
  "outcome" TEXT NOT NULL,
  "body" TEXT NOT NULL,
  "created_at" BIGINT NOT NULL,
  PRIMARY KEY ("chain", "seq")
);
CREATE INDEX "receipts_execution_id_idx" ON "receipts" ("execution_id");

-- Signed checkpoints of chain heads: anchors against truncation of the newest receipts.
CREATE TABLE "checkpoints" (
  "chain" TEXT NOT NULL,
  "seq" BIGINT NOT NULL,
  "head" TEXT NOT NULL,
  "body" TEXT NOT NULL,
  "created_at" BIGINT NOT NULL,
  PRIMARY KEY ("chain", "seq")
);

-- Receipt signing keys ever used, current and retired, published as a JWKS.
CREATE TABLE "signing_keys" (
  "kid" TEXT NOT NULL PRIMARY KEY,
  "chain" TEXT NOT NULL,
  "public_jwk" TEXT NOT NULL,
  "not_before" BIGINT NOT NULL,
  "not_after" BIGINT,
  "created_at" BIGINT NOT NULL
);
CREATE INDEX "signing_keys_chain_idx" ON "signing_keys" ("chain");
