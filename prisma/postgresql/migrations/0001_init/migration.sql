CREATE TABLE "executions" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "tenant" TEXT NOT NULL,
  "nonce" TEXT NOT NULL,
  "action" TEXT NOT NULL,
  "request_digest" TEXT NOT NULL,
  "approval_id" TEXT,
  "state" TEXT NOT NULL CHECK ("state" IN ('reserved', 'succeeded', 'failed', 'indeterminate')),
  "owner" TEXT NOT NULL,
  "lease_expires_at" BIGINT NOT NULL,
  "created_at" BIGINT NOT NULL,
  "completed_at" BIGINT,
  "payload" TEXT,
  "result_digest" TEXT,
  "error_code" TEXT,
  "response_status" INTEGER,
  "response_body" TEXT,
  "receipt_chain" TEXT,
  "receipt_seq" BIGINT,
  "resolved_by" TEXT
);
CREATE UNIQUE INDEX "executions_tenant_nonce_key" ON "executions" ("tenant", "nonce");
CREATE INDEX "executions_state_lease_idx" ON "executions" ("state", "lease_expires_at");
CREATE INDEX "executions_owner_state_idx" ON "executions" ("owner", "state");
CREATE INDEX "executions_completed_at_idx" ON "executions" ("completed_at");

CREATE TABLE "approval_uses" (
  "tenant" TEXT NOT NULL,
  "approval_id" TEXT NOT NULL,
  "issuer" TEXT NOT NULL,
  "max_uses" INTEGER NOT NULL CHECK ("max_uses" >= 1),
  "uses" INTEGER NOT NULL CHECK ("uses" >= 0 AND "uses" <= "max_uses"),
  "expires_at" BIGINT NOT NULL,
  "created_at" BIGINT NOT NULL,
  PRIMARY KEY ("tenant", "approval_id")
);
CREATE INDEX "approval_uses_expires_at_idx" ON "approval_uses" ("expires_at");
