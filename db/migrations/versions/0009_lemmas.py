"""decomposition: the lemma pool (every proved subgoal lemma, by normalised statement) and derived statements
(subgoal lemmas as statements of their own, derived_from the statement whose sketch they came from)

Revision ID: 0009
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('statements', sa.Column('derived_from', sa.String(length=64), nullable=True))
    op.create_foreign_key('fk_statements_derived_from', 'statements', 'statements', ['derived_from'], ['id'])
    op.create_index('ix_statements_derived_from', 'statements', ['derived_from'])
    op.create_table(
        'lemmas',
        sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column('statement_sha256', sa.String(length=64), nullable=False),
        sa.Column('statement', sa.Text(), nullable=False),
        sa.Column('side', sa.String(length=16), nullable=False),  # of the lemma: statement, or negation
        sa.Column('proof', sa.Text(), nullable=False),
        sa.Column('derived_id', sa.String(length=64), sa.ForeignKey('statements.id'), nullable=False),
        sa.Column('source_statement_id', sa.String(length=64), sa.ForeignKey('statements.id'), nullable=False),
        sa.Column('source_side', sa.String(length=16), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('attempt_id', sa.BigInteger(), sa.ForeignKey('proof_attempts.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint('derived_id', 'side', name='uq_lemmas_derived_side'),
    )
    op.create_index('ix_lemmas_statement_sha256', 'lemmas', ['statement_sha256'])


def downgrade() -> None:
    op.drop_index('ix_lemmas_statement_sha256', table_name='lemmas')
    op.drop_table('lemmas')
    op.drop_index('ix_statements_derived_from', table_name='statements')
    op.drop_constraint('fk_statements_derived_from', 'statements', type_='foreignkey')
    op.drop_column('statements', 'derived_from')
