"""a tool that was missing, timed out or crashed gave no verdict: proofs stored as refused for it wait again

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The reason stays, so `flywheel status` says why they wait; the next audit takes them up.
    op.execute("UPDATE proofs SET audit = NULL, audit_toolchain = NULL, audited_at = NULL"
               " WHERE audit = 'refused' AND split_part(audit_reason, ':', 1) IN ('toolchain', 'timeout', 'crash')")


def downgrade() -> None:
    pass  # a refusal for a missing tool was never a verdict to restore
