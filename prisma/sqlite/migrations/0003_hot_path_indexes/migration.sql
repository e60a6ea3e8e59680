-- Fewer pages written per execution. Only rows still `reserved` (a handful at any moment) or
-- `indeterminate` (rare) are looked up by state, so only they are indexed by it: a completed
-- execution leaves these small indexes instead of growing two full-size ones. Execution ids
-- are UUIDv7 from now on (time-ordered), so new rows and their receipts append to the end of
-- their indexes instead of dirtying a random page each.
DROP INDEX "executions_state_lease_idx";
DROP INDEX "executions_owner_state_idx";
CREATE INDEX "executions_reserved_lease_idx" ON "executions" ("lease_expires_at") WHERE "state" = 'reserved';
CREATE INDEX "executions_reserved_owner_idx" ON "executions" ("owner") WHERE "state" = 'reserved';
CREATE INDEX "executions_indeterminate_idx" ON "executions" ("created_at") WHERE "state" = 'indeterminate';
