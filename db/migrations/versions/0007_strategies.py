"""proving strategies: each attempt records its strategy, its repair turn, the attempt it revises and the tokens
generated for it (with Lean checks, the budget strategies are compared by); evaluation attempts likewise

Revision ID: 0007
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def _lineage(table: str) -> None:
    op.add_column(table, sa.Column('strategy', sa.String(length=16), server_default='sample', nullable=False))
    op.add_column(table, sa.Column('turn', sa.Integer(), server_default='0', nullable=False))
    op.add_column(table, sa.Column('tokens', sa.Integer(), server_default='0', nullable=False))


def upgrade() -> None:
    _lineage('proof_attempts')
    op.add_column('proof_attempts', sa.Column('parent_id', sa.BigInteger(), nullable=True))
    op.create_foreign_key('fk_proof_attempts_parent', 'proof_attempts', 'proof_attempts', ['parent_id'], ['id'])
    op.create_index('ix_proof_attempts_parent_id', 'proof_attempts', ['parent_id'], unique=False)
    _lineage('eval_attempts')
    # a sample's repair turns are rows of their own
    op.drop_constraint('uq_eval_attempts_sample', 'eval_attempts', type_='unique')
    op.create_unique_constraint('uq_eval_attempts_sample', 'eval_attempts', ['evaluation_id', 'problem', 'sample', 'turn'])


def downgrade() -> None:
    op.drop_constraint('uq_eval_attempts_sample', 'eval_attempts', type_='unique')
    op.execute("DELETE FROM eval_attempts WHERE turn > 0")
    op.create_unique_constraint('uq_eval_attempts_sample', 'eval_attempts', ['evaluation_id', 'problem', 'sample'])
    for column in ('tokens', 'turn', 'strategy'):
        op.drop_column('eval_attempts', column)
    op.drop_index('ix_proof_attempts_parent_id', table_name='proof_attempts')
    op.drop_constraint('fk_proof_attempts_parent', 'proof_attempts', type_='foreignkey')
    for column in ('parent_id', 'tokens', 'turn', 'strategy'):
        op.drop_column('proof_attempts', column)
