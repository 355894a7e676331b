"""statement preambles and the audit of proofs outside the REPL

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

AUDIT_STATES = "('audited', 'refused')"

VERIFIED_PAIRS = """
CREATE VIEW verified_pairs AS
SELECT p.statement_id, p.side, p.round, s.header, s.preamble, p.theorem, p.proof, p.code,
       s.text AS statement, s.name, s.normalized_sha256,
       pr.source, pr.external_id, pr.informal,
       a.model, a.sampling, a.time_s, p.created_at,
       p.audit, p.audit_reason, p.audited_at
FROM proofs p
JOIN statements s ON s.id = p.statement_id
JOIN proof_attempts a ON a.id = p.attempt_id
LEFT JOIN problems pr ON pr.id = s.problem_id
"""

OLD_VERIFIED_PAIRS = """
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


def upgrade() -> None:
    # The declarations a statement needs before it (def/abbrev/open/variable), hashed with it.
    op.add_column('statements', sa.Column('preamble', sa.Text(), server_default='', nullable=False))
    # NULL: not audited yet; 'audited': a separate Lean process agreed; 'refused': it did not (reason says why).
    op.add_column('proofs', sa.Column('audit', sa.String(length=16), nullable=True))
    op.add_column('proofs', sa.Column('audit_reason', sa.Text(), nullable=True))
    op.add_column('proofs', sa.Column('audit_toolchain', sa.Text(), nullable=True))
    op.add_column('proofs', sa.Column('audited_at', sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint('ck_proofs_audit', 'proofs', f"audit IS NULL OR audit IN {AUDIT_STATES}")
    op.create_index('ix_proofs_audit', 'proofs', ['audit'], unique=False)
    op.execute("DROP VIEW IF EXISTS verified_pairs")
    op.execute(VERIFIED_PAIRS)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS verified_pairs")
    op.execute(OLD_VERIFIED_PAIRS)
    op.drop_index('ix_proofs_audit', table_name='proofs')
    op.drop_constraint('ck_proofs_audit', 'proofs', type_='check')
    for column in ('audited_at', 'audit_toolchain', 'audit_reason', 'audit'):
        op.drop_column('proofs', column)
    op.drop_column('statements', 'preamble')
