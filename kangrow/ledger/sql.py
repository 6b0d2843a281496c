"""SQL the ledger shares between its migrations and its api (plain SQL: PostgreSQL and SQLite)."""

# Every commission's reversed_amount recomputed from its refund reversal and clawback rows;
# commissions without such rows keep 0. Idempotent.
BACKFILL_REVERSED_AMOUNT = """
UPDATE commissions SET reversed_amount = r.total
FROM (
    SELECT commission_id, -SUM(amount) AS total FROM ledger_entries
    WHERE kind IN ('refund_reversal', 'clawback') AND commission_id IS NOT NULL
    GROUP BY commission_id
) AS r
WHERE commissions.id = r.commission_id AND commissions.reversed_amount <> r.total
"""
