"""the checks an audited proof passed (a toolchain without lean4checker audits without the replay)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# Until now an audit ran every check or none (a missing lean4checker left proofs unaudited).
ALL = '["guard", "compile", "replay", "axioms", "type"]'


def upgrade() -> None:
    op.add_column('proofs', sa.Column('audit_checks', postgresql.JSONB(), nullable=True))
    op.execute(f"UPDATE proofs SET audit_checks = '{ALL}'::jsonb WHERE audit = 'audited'")


def downgrade() -> None:
    # Proofs audited with fewer checks were never audited as the old schema means it: they wait again.
    op.execute(f"UPDATE proofs SET audit = NULL, audit_toolchain = NULL, audited_at = NULL"
               f" WHERE audit = 'audited' AND NOT audit_checks @> '{ALL}'::jsonb")
    op.drop_column('proofs', 'audit_checks')
