"""reinforcement learning: proof attempts say where they came from (source) and which checkpoint's training made
them; pass rates per statement side and model as a view

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SOURCES = "('prove', 'sample', 'rl')"

# Crashed checks are Lean's failure, not the proof's: they count neither way.
PASS_RATES = """
CREATE VIEW statement_pass_rates AS
SELECT statement_id, side, model, source,
       count(*) FILTER (WHERE verdict <> 'crashed') AS attempts,
       count(*) FILTER (WHERE verdict = 'proved') AS proved,
       (count(*) FILTER (WHERE verdict = 'proved'))::float
           / nullif(count(*) FILTER (WHERE verdict <> 'crashed'), 0) AS pass_rate
FROM proof_attempts
GROUP BY statement_id, side, model, source
"""


def upgrade() -> None:
    op.add_column('proof_attempts', sa.Column('source', sa.String(length=16), server_default='prove', nullable=False))
    op.add_column('proof_attempts', sa.Column('checkpoint_id', sa.Integer(), nullable=True))
    op.create_foreign_key('fk_proof_attempts_checkpoint', 'proof_attempts', 'checkpoints', ['checkpoint_id'], ['id'],
                          ondelete='SET NULL')
    op.create_check_constraint('ck_proof_attempts_source', 'proof_attempts', f"source IN {SOURCES}")
    op.create_index('ix_proof_attempts_model_statement', 'proof_attempts', ['model', 'statement_id'])
    op.execute(PASS_RATES)


def downgrade() -> None:
    op.execute("DROP VIEW statement_pass_rates")
    op.drop_index('ix_proof_attempts_model_statement', table_name='proof_attempts')
    op.drop_constraint('ck_proof_attempts_source', 'proof_attempts', type_='check')
    op.drop_constraint('fk_proof_attempts_checkpoint', 'proof_attempts', type_='foreignkey')
    op.drop_column('proof_attempts', 'checkpoint_id')
    op.drop_column('proof_attempts', 'source')
