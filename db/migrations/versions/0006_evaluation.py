"""benchmark evaluations: per-problem outcomes and every sampled proof, for pass@k by checkpoint

Revision ID: 0006
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None

VERDICTS = "('proved', 'failed', 'incomplete', 'rejected', 'timeout', 'crashed')"


def upgrade() -> None:
    op.create_table(
        'evaluations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('checkpoint', sa.Text(), nullable=False),
        sa.Column('checkpoint_id', sa.Integer(), nullable=True),
        sa.Column('round', sa.Integer(), nullable=True),
        sa.Column('benchmark', sa.Text(), nullable=False),
        sa.Column('split', sa.Text(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('ks', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
        sa.Column('settings', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('problems', sa.Integer(), server_default='0', nullable=False),
        sa.Column('pass_at_k', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('by_source', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoints.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index('ix_evaluations_round', 'evaluations', ['round'], unique=False)
    op.create_table(
        'eval_problems',
        sa.Column('evaluation_id', sa.Integer(), nullable=False),
        sa.Column('problem', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('correct', sa.Integer(), nullable=False),
        sa.Column('lean_s', sa.Float(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('correct >= 0 AND correct <= n', name='ck_eval_problems_correct'),
        sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id']),
        sa.PrimaryKeyConstraint('evaluation_id', 'problem'),
    )
    op.create_table(
        'eval_attempts',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('evaluation_id', sa.Integer(), nullable=False),
        sa.Column('problem', sa.Text(), nullable=False),
        sa.Column('sample', sa.Integer(), nullable=False),
        sa.Column('model', sa.Text(), nullable=True),
        sa.Column('proof', sa.Text(), nullable=False),
        sa.Column('code_sha256', sa.String(length=64), nullable=False),
        sa.Column('verdict', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('messages', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
        sa.Column('time_s', sa.Float(), server_default='0', nullable=False),
        sa.Column('cached', sa.Boolean(), server_default='false', nullable=False),
        sa.CheckConstraint(f'verdict IN {VERDICTS}', name='ck_eval_attempts_verdict'),
        sa.ForeignKeyConstraint(['evaluation_id', 'problem'], ['eval_problems.evaluation_id', 'eval_problems.problem'],
                                name='fk_eval_attempts_problem'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('evaluation_id', 'problem', 'sample', name='uq_eval_attempts_sample'),
    )


def downgrade() -> None:
    op.drop_table('eval_attempts')
    op.drop_table('eval_problems')
    op.drop_index('ix_evaluations_round', table_name='evaluations')
    op.drop_table('evaluations')
