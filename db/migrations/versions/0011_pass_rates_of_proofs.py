"""pass rates count proofs only: a decomposition's sketch (an attempt of the side that can never be proved)
counts neither way

Revision ID: 0011
Revises: 0009
"""

from alembic import op

revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None

# Crashed checks are Lean's failure, not the proof's; sketches are not proofs: they count neither way.
PASS_RATES = """
CREATE VIEW statement_pass_rates AS
SELECT statement_id, side, model, source,
       count(*) FILTER (WHERE verdict <> 'crashed') AS attempts,
       count(*) FILTER (WHERE verdict = 'proved') AS proved,
       (count(*) FILTER (WHERE verdict = 'proved'))::float
           / nullif(count(*) FILTER (WHERE verdict <> 'crashed'), 0) AS pass_rate
FROM proof_attempts
WHERE sampling->>'kind' IS DISTINCT FROM 'sketch'
GROUP BY statement_id, side, model, source
"""

OLD_PASS_RATES = PASS_RATES.replace("WHERE sampling->>'kind' IS DISTINCT FROM 'sketch'\n", "")


def upgrade() -> None:
    op.execute("DROP VIEW statement_pass_rates")
    op.execute(PASS_RATES)


def downgrade() -> None:
    op.execute("DROP VIEW statement_pass_rates")
    op.execute(OLD_PASS_RATES)
