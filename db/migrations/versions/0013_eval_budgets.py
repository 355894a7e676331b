"""evaluation counts independent attempts at a budget: each eval attempt row names the attempt it belongs to,
each problem keeps what every attempt spent, each evaluation its pass rate against budget

Revision ID: 0013_eval_budgets
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = '0013_eval_budgets'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('eval_attempts', sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
    op.add_column('eval_problems', sa.Column('spent', JSONB(), server_default='[]', nullable=False))
    op.add_column('evaluations', sa.Column('budgets', JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column('evaluations', 'budgets')
    op.drop_column('eval_problems', 'spent')
    op.drop_column('eval_attempts', 'attempt')
