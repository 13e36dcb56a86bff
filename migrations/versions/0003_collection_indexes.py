"""indexes for the collection rate by month

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    # Covering indexes: the dashboard sums charges billed and payments made per month.
    op.create_index('ix_charges_billed_on_amount', 'charges', ['billed_on', 'amount_fen'])
    op.create_index('ix_payments_paid_on_amount', 'payments', ['paid_on', 'amount_fen'])


def downgrade():
    op.drop_index('ix_payments_paid_on_amount', table_name='payments')
    op.drop_index('ix_charges_billed_on_amount', table_name='charges')
