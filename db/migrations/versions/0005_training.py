"""checkpoints say how they were trained and how they are served: method, serve, the train config

Revision ID: 0005
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('checkpoints', sa.Column('method', sa.String(length=16), nullable=True))
    op.add_column('checkpoints', sa.Column('serve', sa.String(length=16), nullable=True))
    op.add_column('checkpoints', sa.Column('adapter', sa.Text(), nullable=True))
    op.add_column('checkpoints', sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default='{}',
                                           nullable=False))
    op.create_check_constraint('ck_checkpoints_serve', 'checkpoints',
                               "serve IS NULL OR serve IN ('full', 'merged', 'adapter')")


def downgrade() -> None:
    op.drop_constraint('ck_checkpoints_serve', 'checkpoints', type_='check')
    for column in ('config', 'adapter', 'serve', 'method'):
        op.drop_column('checkpoints', column)
