"""statements ingested formal (`flywheel ingest --formal`), counted apart in the funnel

Revision ID: 0015
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

FUNNEL = """
CREATE VIEW round_funnel AS
WITH st AS (
    SELECT round,
           count(*) AS statements,
           count(*) FILTER (WHERE status = 'candidate') AS candidates,
           count(*) FILTER (WHERE status = 'dropped') AS dropped,
           count(*) FILTER (WHERE status = 'kept') AS open,
           count(*) FILTER (WHERE status = 'proved') AS proved,
           count(*) FILTER (WHERE status = 'disproved') AS disproved,
           count(*) FILTER (WHERE status = 'infra_failed') AS infra_failed{extra}
    FROM statements GROUP BY round),
at AS (
    SELECT round, count(*) AS attempts, count(*) FILTER (WHERE verdict = 'proved') AS attempts_proved
    FROM proof_attempts GROUP BY round),
rs AS (SELECT round FROM st UNION SELECT round FROM at UNION SELECT number FROM rounds)
SELECT rs.round,
       coalesce(st.statements, 0) AS statements, coalesce(st.candidates, 0) AS candidates,
       coalesce(st.dropped, 0) AS dropped, coalesce(st.open, 0) AS open,
       coalesce(st.proved, 0) AS proved, coalesce(st.disproved, 0) AS disproved,
       coalesce(st.infra_failed, 0) AS infra_failed,
       coalesce(at.attempts, 0) AS attempts, coalesce(at.attempts_proved, 0) AS attempts_proved{extra_out}
FROM rs LEFT JOIN st ON st.round = rs.round LEFT JOIN at ON at.round = rs.round
"""
# formal: of the round's statements, those ingested formal rather than autoformalized; formal_proved: proved of them
ROUND_FUNNEL = FUNNEL.format(
    extra=",\n           count(*) FILTER (WHERE formal) AS formal,"
          "\n           count(*) FILTER (WHERE formal AND status = 'proved') AS formal_proved",
    extra_out=",\n       coalesce(st.formal, 0) AS formal, coalesce(st.formal_proved, 0) AS formal_proved")
OLD_ROUND_FUNNEL = FUNNEL.format(extra="", extra_out="")


def upgrade() -> None:
    op.add_column('statements', sa.Column('formal', sa.Boolean(), server_default='false', nullable=False))
    op.execute("DROP VIEW IF EXISTS round_funnel")
    op.execute(ROUND_FUNNEL)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS round_funnel")
    op.execute(OLD_ROUND_FUNNEL)
    op.drop_column('statements', 'formal')
