"""tree search: each rollout's place in its tree (proof_attempts.search), the searches a kill left open
(search_units), and the trees as a view of nodes (search_nodes)

Revision ID: 0010
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None

# A node is a tactic state of one tree (statement, side, round, pass): found by the first rollout, in rollout order,
# that reached it; its visits are the rollouts expanded at it.
NODES = """
CREATE VIEW search_nodes AS
WITH rollouts AS (
    SELECT id, statement_id, side, round, (sampling->>'pass')::int AS pass, (sampling->>'rollout')::int AS rollout,
           search->>'node' AS node, search->>'parent' AS parent, search->>'prefix' AS prefix, search->'goals' AS goals,
           verdict
    FROM proof_attempts WHERE search IS NOT NULL
), found AS (
    SELECT DISTINCT ON (statement_id, side, round, pass, node) statement_id, side, round, pass, node, parent,
           rollout AS found_by, id AS attempt_id, prefix, goals
    FROM rollouts WHERE node IS NOT NULL
    UNION ALL
    SELECT DISTINCT ON (statement_id, side, round, pass) statement_id, side, round, pass, 'root', NULL, NULL::int,
           NULL::bigint, '', NULL::jsonb
    FROM rollouts
    ORDER BY 1, 2, 3, 4, 5, 7
)
SELECT f.statement_id, f.side, f.round, f.pass, f.node, f.parent, f.found_by, f.attempt_id,
       length(f.prefix) AS prefix_len, f.prefix, f.goals,
       (SELECT count(*) FROM rollouts r WHERE (r.statement_id, r.side, r.round, r.pass, r.parent)
                                             = (f.statement_id, f.side, f.round, f.pass, f.node)) AS expanded,
       (SELECT count(*) FROM rollouts r WHERE (r.statement_id, r.side, r.round, r.pass, r.parent)
                                             = (f.statement_id, f.side, f.round, f.pass, f.node)
                                          AND r.verdict = 'proved') AS proved
FROM found f
"""


def upgrade() -> None:
    op.add_column('proof_attempts', sa.Column('search', JSONB(), nullable=True))
    op.create_table(
        'search_units',
        sa.Column('statement_id', sa.String(length=64), sa.ForeignKey('statements.id'), primary_key=True),
        sa.Column('round', sa.Integer(), primary_key=True),
        sa.Column('pass', sa.Integer(), primary_key=True),
        sa.Column('sides', sa.Text(), primary_key=True),  # the unit's sides, comma-separated, in order
        sa.Column('done', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute(NODES)


def downgrade() -> None:
    op.execute("DROP VIEW search_nodes")
    op.drop_table('search_units')
    op.drop_column('proof_attempts', 'search')
