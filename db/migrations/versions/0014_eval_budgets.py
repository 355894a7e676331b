"""evaluation counts independent attempts at a budget: each eval attempt row names the attempt it belongs to,
each problem keeps what every attempt spent, each evaluation its pass rate against budget; a tree search's
nodes are every step of its rollouts (search->'steps'), each under the node of the step before it

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


# A node is a tactic state of one tree (statement, side, round, pass) under its parent: found by the first rollout,
# in rollout order, whose accepted prefix walked through it; its visits are the rollouts expanded at it. A rollout
# stored before steps were (0010) counts its deepest node alone, under the node it was expanded at.
NODES = """
CREATE VIEW search_nodes AS
WITH rollouts AS (
    SELECT id, statement_id, side, round, (sampling->>'pass')::int AS pass, (sampling->>'rollout')::int AS rollout,
           search->>'parent' AS parent, verdict,
           coalesce(search->'steps', CASE WHEN search->>'node' IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(
               jsonb_build_object('node', search->'node', 'parent', search->'parent', 'prefix', search->'prefix',
                                  'goals', search->'goals')) END) AS steps
    FROM proof_attempts WHERE search IS NOT NULL
), walked AS (
    SELECT r.statement_id, r.side, r.round, r.pass, r.rollout, r.id, s.value->>'node' AS node,
           s.value->>'parent' AS parent, s.value->>'prefix' AS prefix, s.value->'goals' AS goals
    FROM rollouts r, jsonb_array_elements(r.steps) s
), found AS (
    SELECT DISTINCT ON (statement_id, side, round, pass, node) statement_id, side, round, pass, node, parent,
           rollout AS found_by, id AS attempt_id, prefix, goals
    FROM walked
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
    op.execute("DROP VIEW search_nodes")
    op.execute(NODES)
    op.add_column('eval_attempts', sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
    op.add_column('eval_problems', sa.Column('spent', JSONB(), server_default='[]', nullable=False))
    op.add_column('evaluations', sa.Column('budgets', JSONB(), nullable=True))


def downgrade() -> None:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("search_0010", Path(__file__).with_name("0010_search.py"))
    before = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(before)
    op.execute("DROP VIEW search_nodes")
    op.execute(before.NODES)
    op.drop_column('evaluations', 'budgets')
    op.drop_column('eval_problems', 'spent')
    op.drop_column('eval_attempts', 'attempt')
