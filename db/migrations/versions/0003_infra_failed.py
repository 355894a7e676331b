"""statements whose filter got no verdict from Lean (timeout, crash): status infra_failed, counted apart

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

STATUSES = "('candidate', 'kept', 'dropped', 'proved', 'disproved', 'infra_failed')"
OLD_STATUSES = "('candidate', 'kept', 'dropped', 'proved', 'disproved')"

FUNNEL = """
CREATE VIEW round_funnel AS
WITH st AS (
    SELECT round,
           count(*) AS statements,
           count(*) FILTER (WHERE status = 'candidate') AS candidates,
           count(*) FILTER (WHERE status = 'dropped') AS dropped,
           count(*) FILTER (WHERE status = 'kept') AS open,
           count(*) FILTER (WHERE status = 'proved') AS proved,
           count(*) FILTER (WHERE status = 'disproved') AS disproved{extra}
    FROM statements GROUP BY round),
at AS (
    SELECT round, count(*) AS attempts, count(*) FILTER (WHERE verdict = 'proved') AS attempts_proved
    FROM proof_attempts GROUP BY round),
rs AS (SELECT round FROM st UNION SELECT round FROM at UNION SELECT number FROM rounds)
SELECT rs.round,
       coalesce(st.statements, 0) AS statements, coalesce(st.candidates, 0) AS candidates,
       coalesce(st.dropped, 0) AS dropped, coalesce(st.open, 0) AS open,
       coalesce(st.proved, 0) AS proved, coalesce(st.disproved, 0) AS disproved,{extra_out}
       coalesce(at.attempts, 0) AS attempts, coalesce(at.attempts_proved, 0) AS attempts_proved
FROM rs LEFT JOIN st ON st.round = rs.round LEFT JOIN at ON at.round = rs.round
"""
# infra_failed: no verdict yet (Lean timed out or crashed on every try); neither dropped nor open.
ROUND_FUNNEL = FUNNEL.format(extra=",\n           count(*) FILTER (WHERE status = 'infra_failed') AS infra_failed",
                             extra_out="\n       coalesce(st.infra_failed, 0) AS infra_failed,")
OLD_ROUND_FUNNEL = FUNNEL.format(extra="", extra_out="")


def upgrade() -> None:
    op.drop_constraint('ck_statements_status', 'statements', type_='check')
    op.create_check_constraint('ck_statements_status', 'statements', f"status IN {STATUSES}")
    op.execute("DROP VIEW IF EXISTS round_funnel")
    op.execute(ROUND_FUNNEL)


def downgrade() -> None:
    # An infra_failed statement was never judged: it goes back to the filter's queue.
    op.execute("UPDATE statements SET status = 'candidate' WHERE status = 'infra_failed'")
    op.drop_constraint('ck_statements_status', 'statements', type_='check')
    op.create_check_constraint('ck_statements_status', 'statements', f"status IN {OLD_STATUSES}")
    op.execute("DROP VIEW IF EXISTS round_funnel")
    op.execute(OLD_ROUND_FUNNEL)
