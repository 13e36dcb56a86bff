"""The statement document of SPEC §10 (``statement --json``), built from the engine's result.

Every amount is a two-decimal string; ``limitation_expires`` is given for charges with
principal outstanding; keys come in the SPEC's order.
"""
from .money import format_fen


def statement_document(unit_ref, statement, limitation):
    """``limitation`` maps each charge id to its limitation expiry date."""
    charges = []
    for line in statement.charges:
        item = {
            "period": line.charge.period,
            "fee_item": line.charge.fee_item,
            "due_date": line.charge.due_date.isoformat(),
            "amount": format_fen(line.charge.amount_fen),
            "principal_paid": format_fen(line.principal_paid_fen),
            "principal_waived": format_fen(line.principal_waived_fen),
            "principal_outstanding": format_fen(line.principal_outstanding_fen),
            "days_overdue": line.days_overdue,
            "late_fee_accrued": format_fen(line.late_fee_accrued_fen),
            "late_fee_waived": format_fen(line.late_fee_waived_fen),
            "late_fee_paid": format_fen(line.late_fee_paid_fen),
            "late_fee_outstanding": format_fen(line.late_fee_outstanding_fen),
        }
        if line.principal_outstanding_fen > 0:
            item["limitation_expires"] = limitation[line.charge.id].isoformat()
        charges.append(item)
    return {
        "unit": unit_ref,
        "as_of": statement.as_of.isoformat(),
        "currency": "CNY",
        "charges": charges,
        "credit": format_fen(statement.credit_fen),
        "totals": {
            "principal_outstanding": format_fen(statement.principal_outstanding_fen),
            "late_fee_outstanding": format_fen(statement.late_fee_outstanding_fen),
            "total_outstanding": format_fen(statement.total_outstanding_fen),
        },
    }
