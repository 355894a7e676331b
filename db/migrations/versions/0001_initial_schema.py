"""initial schema: the seven tables and the views users query first

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


VERIFIED_PAIRS = """
CREATE VIEW verified_pairs AS
SELECT p.statement_id, p.side, p.round, s.header, p.theorem, p.proof, p.code,
       s.text AS statement, s.name, s.normalized_sha256,
       pr.source, pr.external_id, pr.informal,
       a.model, a.sampling, a.time_s, p.created_at
FROM proofs p
JOIN statements s ON s.id = p.statement_id
JOIN proof_attempts a ON a.id = p.attempt_id
LEFT JOIN problems pr ON pr.id = s.problem_id
"""

ROUND_FUNNEL = """
CREATE VIEW round_funnel AS
WITH st AS (
    SELECT round,
           count(*) AS statements,
           count(*) FILTER (WHERE status = 'candidate') AS candidates,
           count(*) FILTER (WHERE status = 'dropped') AS dropped,
           count(*) FILTER (WHERE status = 'kept') AS open,
           count(*) FILTER (WHERE status = 'proved') AS proved,
           count(*) FILTER (WHERE status = 'disproved') AS disproved
    FROM statements GROUP BY round),
at AS (
    SELECT round, count(*) AS attempts, count(*) FILTER (WHERE verdict = 'proved') AS attempts_proved
    FROM proof_attempts GROUP BY round),
rs AS (SELECT round FROM st UNION SELECT round FROM at UNION SELECT number FROM rounds)
SELECT rs.round,
       coalesce(st.statements, 0) AS statements, coalesce(st.candidates, 0) AS candidates,
       coalesce(st.dropped, 0) AS dropped, coalesce(st.open, 0) AS open,
       coalesce(st.proved, 0) AS proved, coalesce(st.disproved, 0) AS disproved,
       coalesce(at.attempts, 0) AS attempts, coalesce(at.attempts_proved, 0) AS attempts_proved
FROM rs LEFT JOIN st ON st.round = rs.round LEFT JOIN at ON at.round = rs.round
"""

DROP_REASONS = """
CREATE VIEW drop_reasons AS
SELECT round, drop_reason, count(*) AS statements
FROM statements WHERE status = 'dropped' GROUP BY round, drop_reason
"""

ATTEMPT_OUTCOMES = """
CREATE VIEW attempt_outcomes AS
SELECT round, side, verdict, count(*) AS attempts, sum(time_s) AS lean_seconds
FROM proof_attempts GROUP BY round, side, verdict
"""

VIEWS = {"verified_pairs": VERIFIED_PAIRS, "round_funnel": ROUND_FUNNEL,
         "drop_reasons": DROP_REASONS, "attempt_outcomes": ATTEMPT_OUTCOMES}


def upgrade() -> None:
    op.create_table('checkpoints',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('base_model', sa.Text(), nullable=True),
    sa.Column('data_manifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('round', 'path', name='uq_checkpoints_round_path')
    )
    op.create_table('problems',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('informal', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_problems_source_external_id', 'problems', ['source', 'external_id'], unique=False)
    op.create_table('rounds',
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('stages', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('number')
    )
    op.create_table('verdict_cache',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('toolchain', sa.Text(), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('messages', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('axioms', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('time_s', sa.Float(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("verdict IN ('proved', 'failed', 'incomplete', 'rejected', 'timeout', 'crashed')", name='ck_verdict_cache_verdict'),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('statements',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('problem_id', sa.String(length=64), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('header', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('normalized_sha256', sa.String(length=64), nullable=False),
    sa.Column('origin_model', sa.Text(), nullable=True),
    sa.Column('sample_index', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='candidate', nullable=False),
    sa.Column('drop_reason', sa.String(length=32), nullable=True),
    sa.Column('drop_detail', sa.Text(), nullable=True),
    sa.Column('grade', sa.String(length=16), nullable=True),
    sa.Column('grade_rationale', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("drop_reason IS NULL OR drop_reason IN ('no_code', 'no_theorem', 'several_theorems', 'unparsable', 'duplicate', 'contaminated', 'does_not_compile', 'low_grade', 'no_grade', 'inconsistent_hypotheses')", name='ck_statements_drop_reason'),
    sa.CheckConstraint("status IN ('candidate', 'kept', 'dropped', 'proved', 'disproved')", name='ck_statements_status'),
    sa.ForeignKeyConstraint(['problem_id'], ['problems.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_statements_normalized_sha256', 'statements', ['normalized_sha256'], unique=False)
    op.create_index('ix_statements_problem_id', 'statements', ['problem_id'], unique=False)
    op.create_index('ix_statements_round_status', 'statements', ['round', 'status'], unique=False)
    op.create_table('proof_attempts',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('attempt_key', sa.String(length=64), nullable=False),
    sa.Column('statement_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('sampling', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('proof', sa.Text(), nullable=False),
    sa.Column('code_sha256', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('messages', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('time_s', sa.Float(), server_default='0', nullable=False),
    sa.Column('cached', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("side IN ('statement', 'negation', 'false_hyps')", name='ck_proof_attempts_side'),
    sa.CheckConstraint("verdict IN ('proved', 'failed', 'incomplete', 'rejected', 'timeout', 'crashed')", name='ck_proof_attempts_verdict'),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('attempt_key')
    )
    op.create_index('ix_proof_attempts_round_verdict', 'proof_attempts', ['round', 'verdict'], unique=False)
    op.create_index('ix_proof_attempts_statement_side', 'proof_attempts', ['statement_id', 'side'], unique=False)
    op.create_table('proofs',
    sa.Column('statement_id', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('attempt_id', sa.BigInteger(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('theorem', sa.Text(), nullable=False),
    sa.Column('proof', sa.Text(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("side IN ('statement', 'negation', 'false_hyps')", name='ck_proofs_side'),
    sa.ForeignKeyConstraint(['attempt_id'], ['proof_attempts.id'], ),
    sa.ForeignKeyConstraint(['statement_id'], ['statements.id'], ),
    sa.PrimaryKeyConstraint('statement_id', 'side')
    )
    op.create_index('ix_proofs_round_side', 'proofs', ['round', 'side'], unique=False)
    for sql in VIEWS.values():
        op.execute(sql)


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_index('ix_proofs_round_side', table_name='proofs')
    op.drop_table('proofs')
    op.drop_index('ix_proof_attempts_statement_side', table_name='proof_attempts')
    op.drop_index('ix_proof_attempts_round_verdict', table_name='proof_attempts')
    op.drop_table('proof_attempts')
    op.drop_index('ix_statements_round_status', table_name='statements')
    op.drop_index('ix_statements_problem_id', table_name='statements')
    op.drop_index('ix_statements_normalized_sha256', table_name='statements')
    op.drop_table('statements')
    op.drop_table('verdict_cache')
    op.drop_table('rounds')
    op.drop_index('ix_problems_source_external_id', table_name='problems')
    op.drop_table('problems')
    op.drop_table('checkpoints')
