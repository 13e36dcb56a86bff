"""The database model.

Money is integer fen with named CHECK constraints. The ledger tables (charges,
payments, reversals, waivers, hardship statuses, late-fee policies) and the evidence
events are append-only: the migrations add triggers that refuse UPDATE and DELETE on
them. Corrections are new rows (``Reversal``) that point to what they correct.

``ChargeBalance``, ``UnitBalance`` and ``PaymentAllocation`` are a projection of the
ledger, not part of it: the services rebuild a unit's rows from the engine in the same
transaction as every posting, so that reports read today's figures in one query.
"""
from datetime import date, datetime, timezone

from sqlalchemy import (BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint)
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

PAYMENT_METHODS = ("cash", "bank_transfer", "wechat", "alipay", "bank_deduction", "other")
ROLES = ("clerk", "manager", "lawyer", "admin")
WAIVER_KINDS = ("late_fee", "principal")
WAIVER_REASONS = ("hardship", "non_malicious", "dispute_settlement", "other")
FEE_BASES = ("per_m2", "fixed")

# Tables whose rows are never updated or deleted (enforced by triggers in migrations).
APPEND_ONLY_TABLES = ("charges", "payments", "reversals", "waivers", "hardship_statuses",
                      "late_fee_policies", "billing_runs", "evidence_events",
                      "contacts", "promises", "disputes", "dispute_updates", "escalations",
                      "stored_files", "notices", "notice_charges", "deliveries", "delivery_proofs",
                      "receipts", "receipt_prints",
                      "hardship_requests", "waiver_requests", "payment_plans", "plan_charges",
                      "plan_instalments", "decisions", "waiver_reversals", "plan_breaks", "plan_agreements",
                      "case_steps", "case_claims", "bundle_exports",
                      "call_guides", "paydays", "visit_sheets", "visit_sheet_items", "commission_schemes")


def utcnow():
    return datetime.now(timezone.utc)


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Estate(db.Model):
    __tablename__ = "estates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # The office's letterhead and ways to pay, printed on every notice and receipt.
    office_name: Mapped[str | None] = mapped_column(String(100))
    office_address: Mapped[str | None] = mapped_column(String(200))
    office_phone: Mapped[str | None] = mapped_column(String(50))
    office_hours: Mapped[str | None] = mapped_column(String(100))
    bank_name: Mapped[str | None] = mapped_column(String(100))
    bank_account_name: Mapped[str | None] = mapped_column(String(100))
    bank_account_no: Mapped[str | None] = mapped_column(String(50))
    wechat_payee: Mapped[str | None] = mapped_column(String(100))
    alipay_payee: Mapped[str | None] = mapped_column(String(100))
    # Whom to call about hardship or a dispute (a name and a number).
    relief_contact: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    buildings = relationship("Building", back_populates="estate", order_by="Building.name")


class Building(db.Model):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("estate_id", "name", name="uq_buildings_estate_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))

    estate = relationship("Estate", back_populates="buildings")
    units = relationship("Unit", back_populates="building", order_by="Unit.number")


class Unit(db.Model):
    __tablename__ = "units"
    __table_args__ = (
        UniqueConstraint("building_id", "number", name="uq_units_building_number"),
        CheckConstraint("area_centi_m2 >= 0", name="non_negative_area"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    number: Mapped[str] = mapped_column(String(50))
    # Floor area in hundredths of a square metre (100.25 m² -> 10025).
    area_centi_m2: Mapped[int] = mapped_column(Integer)

    building = relationship("Building", back_populates="units")
    ownerships = relationship("Ownership", back_populates="unit", order_by="Ownership.start_on")

    @property
    def ref(self):
        return f"{self.building.estate.name}/{self.building.name}/{self.number}"

    @property
    def estate(self):
        return self.building.estate

    def owner_on(self, day):
        """The owner whose ownership period covers ``day`` (None when nobody's does)."""
        for ownership in reversed(self.ownerships):
            if ownership.start_on <= day and (ownership.end_on is None or day <= ownership.end_on):
                return ownership.owner
        return None


class Owner(db.Model):
    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Personal data (SPEC §9): shown masked except where the work needs it.
    phone: Mapped[str | None] = mapped_column(String(30))


class Ownership(db.Model):
    __tablename__ = "ownerships"
    __table_args__ = (CheckConstraint("end_on IS NULL OR end_on >= start_on", name="ordered_dates"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), index=True)
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date | None] = mapped_column(Date)

    unit = relationship("Unit", back_populates="ownerships")
    owner = relationship("Owner")


class FeeItem(db.Model):
    __tablename__ = "fee_items"
    __table_args__ = (
        UniqueConstraint("estate_id", "name", name="uq_fee_items_estate_name"),
        CheckConstraint(_in("basis", FEE_BASES), name="known_basis"),
        CheckConstraint("price_fen >= 0", name="non_negative_price"),
        CheckConstraint("due_day IS NULL OR (due_day BETWEEN 1 AND 31)", name="due_day_in_month"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # per_m2: price_fen per m² per month; fixed: price_fen per unit per month.
    basis: Mapped[str] = mapped_column(String(10))
    price_fen: Mapped[int] = mapped_column(Integer)
    # Day of the period's month the charge is due; None: the month's last day.
    due_day: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)

    estate = relationship("Estate")


class LateFeePolicyVersion(db.Model):
    """One version of an estate's late-fee policy; rates are stored as exact decimal text."""

    __tablename__ = "late_fee_policies"
    __table_args__ = (
        UniqueConstraint("estate_id", "effective_from", name="uq_late_fee_policies_estate_from"),
        CheckConstraint("grace_days >= 0", name="non_negative_grace"),
        CheckConstraint("allocation IN ('principal_first', 'charge_by_charge')", name="known_allocation"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    daily_rate: Mapped[str] = mapped_column(String(20))
    grace_days: Mapped[int] = mapped_column(Integer)
    cap_ratio: Mapped[str | None] = mapped_column(String(20))
    allocation: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class BillingRun(db.Model):
    __tablename__ = "billing_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    charges_created: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Charge(db.Model):
    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("unit_id", "fee_item_id", "period", name="uq_charges_unit_item_period"),
        CheckConstraint("amount_fen > 0", name="positive_amount"),
        CheckConstraint("billed_on <= due_date", name="billed_before_due"),
        Index("ix_charges_billed_on_amount", "billed_on", "amount_fen"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    fee_item_id: Mapped[int] = mapped_column(ForeignKey("fee_items.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    period: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date] = mapped_column(Date)
    billed_on: Mapped[date] = mapped_column(Date)
    billing_run_id: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    unit = relationship("Unit")
    fee_item = relationship("FeeItem")
    owner = relationship("Owner")


class Payment(db.Model):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("estate_id", "reference", name="uq_payments_estate_reference"),
        CheckConstraint("amount_fen > 0", name="positive_amount"),
        CheckConstraint(_in("method", PAYMENT_METHODS), name="known_method"),
        Index("ix_payments_paid_on_amount", "paid_on", "amount_fen"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(100))
    # Periods the payer named ("2026-01,2026-02"), or None.
    periods: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))

    unit = relationship("Unit")

    @property
    def period_list(self):
        return tuple(p for p in (self.periods or "").split(",") if p)


class Reversal(db.Model):
    """Cancels one payment or one charge from ``reversed_on``; never undone itself."""

    __tablename__ = "reversals"
    __table_args__ = (
        CheckConstraint("(payment_id IS NULL) <> (charge_id IS NULL)", name="one_target"),
        CheckConstraint("length(reason) > 0", name="has_reason"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), unique=True)
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    reversed_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


class Waiver(db.Model):
    """An approved waiver: takes effect on ``approved_on``."""

    __tablename__ = "waivers"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="positive_amount"),
        CheckConstraint(_in("kind", WAIVER_KINDS), name="known_kind"),
        CheckConstraint(_in("reason", WAIVER_REASONS), name="known_reason"),
        CheckConstraint("requested_by <> approved_by", name="two_people"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(30))
    requested_by: Mapped[str] = mapped_column(String(100))
    approved_by: Mapped[str] = mapped_column(String(100))
    approved_on: Mapped[date] = mapped_column(Date)
    # The request it grants (None for imported waivers).
    request_id: Mapped[int | None] = mapped_column(ForeignKey("waiver_requests.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    charge = relationship("Charge")


class HardshipStatus(db.Model):
    """An approved hardship status: no late fee accrues from ``start_on`` to ``end_on``."""

    __tablename__ = "hardship_statuses"
    __table_args__ = (
        CheckConstraint("end_on >= start_on", name="ordered_dates"),
        CheckConstraint("requested_by <> approved_by", name="two_people"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date)
    # Sensitive (SPEC §9): encrypted at rest with the office's data key.
    reason_encrypted: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    approved_by: Mapped[str] = mapped_column(String(100))
    # The request it grants (None for imported statuses).
    request_id: Mapped[int | None] = mapped_column(ForeignKey("hardship_requests.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="known_role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # Set when the user is loaded for a request: Flask-Login keeps the login's token in
    # the session cookie, not the user's id (see services/auth.py).
    session_token = None

    def get_id(self):
        return self.session_token

    @property
    def is_active(self):
        return self.active

    def has_role(self, *roles):
        return self.role in roles or self.role == "admin" and "manager" in roles


class EvidenceEvent(db.Model):
    """One link of the hash chain (SPEC §8); ``at`` and ``data`` are stored exactly as hashed."""

    __tablename__ = "evidence_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(50), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str | None] = mapped_column(String(300), index=True)
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# -- projection (derived, rebuilt by the services) ----------------------------------

class ChargeBalance(db.Model):
    """A charge's figures as of ``state_day`` plus what is needed to carry the late fee
    forward in SQL: from ``accrual_from`` the fee grows by ``accrual_micro_per_day``
    (millionths of a fen) a day up to ``cap_micro``, until ``valid_through``. Days are
    proleptic ordinals (``date.toordinal()``) so the arithmetic is the same in SQLite
    and PostgreSQL."""

    __tablename__ = "charge_balances"
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    due_day: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    principal_outstanding_fen: Mapped[int] = mapped_column(BigInteger)
    fee_settled_fen: Mapped[int] = mapped_column(BigInteger)
    accrued_micro: Mapped[int] = mapped_column(BigInteger)
    accrual_micro_per_day: Mapped[int] = mapped_column(BigInteger)
    accrual_from: Mapped[int] = mapped_column(Integer)
    cap_micro: Mapped[int | None] = mapped_column(BigInteger)
    state_day: Mapped[int] = mapped_column(Integer)
    valid_through: Mapped[int] = mapped_column(Integer)


class UnitBalance(db.Model):
    __tablename__ = "unit_balances"
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    credit_fen: Mapped[int] = mapped_column(BigInteger)
    state_day: Mapped[int] = mapped_column(Integer)
    valid_through: Mapped[int] = mapped_column(Integer)


class PaymentAllocation(db.Model):
    """How the engine applies a payment (or held credit, ``payment_id`` NULL)."""

    __tablename__ = "payment_allocations"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"))
    applied_on: Mapped[date] = mapped_column(Date)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    late_fee_fen: Mapped[int] = mapped_column(BigInteger)


# -- the office workbench (issue 3) -------------------------------------------------------

CONTACT_CHANNELS = ("phone", "sms", "wechat", "visit", "letter", "notice_posted", "email")
CONTACT_REACHED = ("owner", "household_member", "other", "nobody")
NONPAYMENT_REASONS = ("hardship", "service_dispute", "away", "refuses", "unreachable", "deceased_or_estate", "other")
DISPUTE_STATUSES = ("open", "in_progress", "resolved", "rejected")
MANUAL_STAGES = ("legal", "cleared")


class LoginSession(db.Model):
    """One login: the session cookie names its token; logout revokes it, so a copied
    cookie is useless afterwards."""

    __tablename__ = "login_sessions"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user = relationship("User")


class LoginAttempt(db.Model):
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    succeeded: Mapped[bool] = mapped_column(default=False)


class Contact(db.Model):
    """A collection contact (SPEC §5). ``policy_breach`` records that it broke the contact
    policy; such a contact needs a written ``justification``."""

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint(_in("channel", CONTACT_CHANNELS), name="known_channel"),
        CheckConstraint(_in("reached", CONTACT_REACHED), name="known_reached"),
        CheckConstraint("reason IS NULL OR " + _in("reason", NONPAYMENT_REASONS), name="known_reason"),
        CheckConstraint("NOT policy_breach OR coalesce(length(justification), 0) > 0", name="breach_justified"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    contacted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    staff: Mapped[str] = mapped_column(String(100))
    reached: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(30))
    notes: Mapped[str | None] = mapped_column(Text)
    policy_breach: Mapped[bool] = mapped_column(default=False)
    justification: Mapped[str | None] = mapped_column(Text)
    # The call guide version the clerk was shown when logging it (issue 7); NULL before guides.
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("call_guides.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Promise(db.Model):
    """A promise to pay ``amount_fen`` by ``promised_on``; kept or broken is derived from payments."""

    __tablename__ = "promises"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="positive_amount"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    made_on: Mapped[date] = mapped_column(Date)
    promised_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dispute(db.Model):
    """A complaint about service, kept apart from the debt; its status is its last update."""

    __tablename__ = "disputes"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    opened_on: Mapped[date] = mapped_column(Date)
    opened_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    updates = relationship("DisputeUpdate", order_by="DisputeUpdate.id")


class DisputeUpdate(db.Model):
    __tablename__ = "dispute_updates"
    __table_args__ = (CheckConstraint(_in("status", DISPUTE_STATUSES), name="known_status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Escalation(db.Model):
    """A manager's decision on a household's stage: ``legal`` (escalated; lawyers may see
    it) or ``cleared`` (back to the stage the ledger gives). The last one stands."""

    __tablename__ = "escalations"
    __table_args__ = (CheckConstraint(_in("stage", MANUAL_STAGES), name="known_stage"),
                      CheckConstraint("length(reason) > 0", name="has_reason"))
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- notices, receipts and delivery (issue 4) -------------------------------------------

NOTICE_KINDS = ("reminder", "demand", "final")
NOTICE_LANGUAGES = ("zh_CN", "en")
DELIVERY_METHODS = ("hand_signed", "mailbox", "posted_on_door", "registered_mail", "sms", "email")
DELIVERY_OUTCOMES = ("delivered", "refused", "returned")
SIGNER_RELATIONS = ("owner", "household_member", "agent")
BATCH_STATUSES = ("queued", "running", "done", "failed")


class SerialCounter(db.Model):
    """The last number handed out for a serial series (``SL-2026``, ``SJ-2026``). Numbers
    are taken inside the issuing transaction and never handed out again; a rolled-back
    issue leaves a gap, never a duplicate."""

    __tablename__ = "serial_counters"
    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class StoredFile(db.Model):
    """A file kept under ``ARREARS_DATA_DIR/files`` by its SHA-256 (issued PDFs, proofs)."""

    __tablename__ = "stored_files"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Notice(db.Model):
    """An issued notice (SPEC §6): the signed PDF as issued, what it listed, the chain
    head printed in its footer."""

    __tablename__ = "notices"
    __table_args__ = (
        CheckConstraint(_in("kind", NOTICE_KINDS), name="known_kind"),
        CheckConstraint(_in("language", NOTICE_LANGUAGES), name="known_language"),
        CheckConstraint("total_fen >= 0", name="non_negative_total"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(30), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    as_of: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(10))
    # Days the resident is given from delivery (demand and final notices), else None.
    deadline_days: Mapped[int | None] = mapped_column(Integer)
    principal_outstanding_fen: Mapped[int] = mapped_column(BigInteger)
    late_fee_outstanding_fen: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("notice_batches.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    unit = relationship("Unit")
    owner = relationship("Owner")
    lines = relationship("NoticeCharge", order_by="NoticeCharge.id")
    deliveries = relationship("Delivery", order_by="Delivery.id")


class NoticeCharge(db.Model):
    """One charge a notice listed, with the figures it printed."""

    __tablename__ = "notice_charges"
    __table_args__ = (UniqueConstraint("notice_id", "charge_id", name="uq_notice_charges_notice_charge"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), index=True)
    principal_outstanding_fen: Mapped[int] = mapped_column(BigInteger)
    late_fee_outstanding_fen: Mapped[int] = mapped_column(BigInteger)


class Delivery(db.Model):
    """One delivery attempt of a notice (SPEC §6). ``at_registered_address`` matters for
    ``refused`` and ``returned``: at the owner's registered address they count as arrival."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint(_in("method", DELIVERY_METHODS), name="known_method"),
        CheckConstraint(_in("outcome", DELIVERY_OUTCOMES), name="known_outcome"),
        CheckConstraint("relation IS NULL OR " + _in("relation", SIGNER_RELATIONS), name="known_relation"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(10))
    attempted_on: Mapped[date] = mapped_column(Date)
    signer: Mapped[str | None] = mapped_column(String(100))
    relation: Mapped[str | None] = mapped_column(String(20))
    tracking_no: Mapped[str | None] = mapped_column(String(60))
    at_registered_address: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    proofs = relationship("DeliveryProof", order_by="DeliveryProof.id")

    @property
    def counts_as_delivered(self):
        return self.outcome == "delivered" or self.at_registered_address


class DeliveryProof(db.Model):
    __tablename__ = "delivery_proofs"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    filename: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    file = relationship("StoredFile")


class Receipt(db.Model):
    """The numbered receipt of one payment (SPEC §6)."""

    __tablename__ = "receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(30), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    payment = relationship("Payment")
    prints = relationship("ReceiptPrint", order_by="ReceiptPrint.copy_no")


class ReceiptPrint(db.Model):
    """A signed PDF of a receipt: ``copy_no`` 0 is the original, later ones are marked copies."""

    __tablename__ = "receipt_prints"
    __table_args__ = (UniqueConstraint("receipt_id", "copy_no", name="uq_receipt_prints_receipt_copy"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipts.id"), index=True)
    copy_no: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NoticeBatch(db.Model):
    """A batch run: notices of one kind for every household of a stage. Its items are
    fixed when it is made; each item is issued once (``NoticeBatchItem.notice_id``)."""

    __tablename__ = "notice_batches"
    __table_args__ = (CheckConstraint(_in("status", BATCH_STATUSES), name="known_status"),
                      CheckConstraint(_in("kind", NOTICE_KINDS), name="known_kind"))
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    stage: Mapped[str] = mapped_column(String(10))
    as_of: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(10))
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estates.id"))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    total: Mapped[int] = mapped_column(Integer)
    print_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"))
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    items = relationship("NoticeBatchItem", order_by="NoticeBatchItem.position")


class NoticeBatchItem(db.Model):
    __tablename__ = "notice_batch_items"
    __table_args__ = (UniqueConstraint("batch_id", "unit_id", name="uq_notice_batch_items_batch_unit"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("notice_batches.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    position: Mapped[int] = mapped_column(Integer)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id"), unique=True)
    # Set when the household had nothing to demand any more when its turn came.
    skipped: Mapped[str | None] = mapped_column(String(200))


class VerifyAttempt(db.Model):
    """Requests to the public verification page, for its rate limit (no personal data)."""

    __tablename__ = "verify_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


# -- relief: hardship, waivers, payment plans (issue 5); household members (issue 3) -------

DECISION_SUBJECTS = ("hardship", "waiver", "plan")
DECISION_OUTCOMES = ("approved", "rejected")
MEMBER_RELATIONS = ("spouse", "parent", "child", "sibling", "tenant", "other")


class HouseholdMember(db.Model):
    """A person registered for a household: besides the owner, the only people the
    contact policy allows staff to contact (SPEC §5). Removing one keeps the row."""

    __tablename__ = "household_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(20))
    # Personal data (SPEC §9): shown masked except where the work needs it.
    phone: Mapped[str | None] = mapped_column(String(30))
    added_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    removed_by: Mapped[str | None] = mapped_column(String(100))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HardshipRequest(db.Model):
    """A clerk's request for hardship status; nothing changes until a manager approves it
    (a ``Decision``), which writes the ``HardshipStatus``."""

    __tablename__ = "hardship_requests"
    __table_args__ = (CheckConstraint("end_on >= start_on", name="ordered_dates"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date)
    reason_encrypted: Mapped[str] = mapped_column(Text)
    document_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"))
    document_name: Mapped[str | None] = mapped_column(String(200))
    # A renewal names the status it continues.
    renews_id: Mapped[int | None] = mapped_column(ForeignKey("hardship_statuses.id"))
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WaiverRequest(db.Model):
    """A request to waive late fee (``amount_fen`` None: all of it, as outstanding on the
    day of approval) or principal on one charge."""

    __tablename__ = "waiver_requests"
    __table_args__ = (
        CheckConstraint(_in("kind", WAIVER_KINDS), name="known_kind"),
        CheckConstraint(_in("reason", WAIVER_REASONS), name="known_reason"),
        CheckConstraint("amount_fen IS NULL OR amount_fen > 0", name="positive_amount"),
        CheckConstraint("amount_fen IS NOT NULL OR kind = 'late_fee'", name="all_only_of_late_fee"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    charge = relationship("Charge")


class PaymentPlan(db.Model):
    """An instalment agreement (分期还款协议) over named charges; in force from its
    approval while in good standing (SPEC §4)."""

    __tablename__ = "payment_plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    include_late_fee: Mapped[bool] = mapped_column(default=False)
    # What the plan covers on the day it was drawn up (principal, plus late fee if included).
    covered_fen: Mapped[int] = mapped_column(BigInteger)
    drawn_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    charges = relationship("PlanCharge", order_by="PlanCharge.id")
    instalments = relationship("PlanInstalment", order_by="PlanInstalment.number")


class PlanCharge(db.Model):
    __tablename__ = "plan_charges"
    __table_args__ = (UniqueConstraint("plan_id", "charge_id", name="uq_plan_charges_plan_charge"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id"), index=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), index=True)


class PlanInstalment(db.Model):
    __tablename__ = "plan_instalments"
    __table_args__ = (UniqueConstraint("plan_id", "number", name="uq_plan_instalments_plan_number"),
                      CheckConstraint("amount_fen > 0", name="positive_amount"))
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Decision(db.Model):
    """A manager's approval or rejection of a request. One per request (the unique
    constraint makes a double submit, or two managers at once, take effect once); the
    decider is never the requester (checked by the service)."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("subject", "request_id", name="uq_decisions_subject_request"),
        CheckConstraint(_in("subject", DECISION_SUBJECTS), name="known_subject"),
        CheckConstraint(_in("outcome", DECISION_OUTCOMES), name="known_outcome"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(10))
    request_id: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(10))
    note: Mapped[str | None] = mapped_column(Text)
    decided_on: Mapped[date] = mapped_column(Date)
    decided_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WaiverReversal(db.Model):
    """Undoes an approved waiver from ``reversed_on``, with a reason; the waiver stays on record."""

    __tablename__ = "waiver_reversals"
    __table_args__ = (CheckConstraint("length(reason) > 0", name="has_reason"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    waiver_id: Mapped[int] = mapped_column(ForeignKey("waivers.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    reversed_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PlanBreak(db.Model):
    """The record that a plan broke: an instalment still unpaid ``plan_tolerance_days``
    after its date. Derived from the payments, recorded once when first seen."""

    __tablename__ = "plan_breaks"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id"), unique=True)
    broken_on: Mapped[date] = mapped_column(Date)
    instalment_number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PlanAgreement(db.Model):
    """A signed print of a plan's agreement (分期还款协议), stored by SHA-256."""

    __tablename__ = "plan_agreements"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("payment_plans.id"), index=True)
    serial: Mapped[str] = mapped_column(String(30), unique=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- the legal hand-off (issue 6) ---------------------------------------------------------

CASE_STEPS = ("lawyer_assigned", "lawsuit_filed", "payment_order_filed", "hearing", "judgment", "settlement",
              "enforcement", "closed")


class CaseStep(db.Model):
    """One step of a household's legal case (SPEC §7, §8): a lawyer assigned, a lawsuit or
    payment order filed (with the charges claimed, which it interrupts), a hearing, a
    judgment, a settlement, enforcement, closing. The case's state is its steps."""

    __tablename__ = "case_steps"
    __table_args__ = (CheckConstraint(_in("kind", CASE_STEPS), name="known_kind"),
                      CheckConstraint("amount_fen IS NULL OR amount_fen >= 0", name="non_negative_amount"))
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    on_date: Mapped[date] = mapped_column(Date)
    lawyer: Mapped[str | None] = mapped_column(String(100))  # a lawyer's user name (lawyer_assigned)
    court: Mapped[str | None] = mapped_column(String(200))
    case_number: Mapped[str | None] = mapped_column(String(100))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)  # claimed, awarded or settled
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    claims = relationship("CaseClaim", order_by="CaseClaim.id")


class CaseClaim(db.Model):
    """A charge claimed by a lawsuit or payment-order filing."""

    __tablename__ = "case_claims"
    __table_args__ = (UniqueConstraint("step_id", "charge_id", name="uq_case_claims_step_charge"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("case_steps.id"), index=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), index=True)


class BundleExport(db.Model):
    """An evidence bundle as handed over: the ZIP stored by SHA-256, the chain head it pins."""

    __tablename__ = "bundle_exports"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("stored_files.sha256"))
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- collection craft (issue 7) ----------------------------------------------------------------

GUIDE_STAGES = ("reminder", "demand", "final", "legal")
# A guide for a stage with no reason given yet (the opening call) has reason ``opening``.
GUIDE_REASONS = ("opening",) + NONPAYMENT_REASONS
COMMISSION_KINDS = ("fixed", "tiered_marginal", "tiered_whole")


class CallGuide(db.Model):
    """One version of the call guide (话术) for a stage and a reason given, in one language.
    Never edited: an admin's edit adds the next version; the guide in force is the highest
    version, and each contact links the version the clerk was shown (``contacts.guide_id``)."""

    __tablename__ = "call_guides"
    __table_args__ = (
        CheckConstraint(_in("stage", GUIDE_STAGES), name="known_stage"),
        CheckConstraint(_in("reason", GUIDE_REASONS), name="known_reason"),
        CheckConstraint(_in("language", NOTICE_LANGUAGES), name="known_language"),
        CheckConstraint("version >= 1", name="positive_version"),
        UniqueConstraint("stage", "reason", "language", "version", name="uq_call_guides_version"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(30))
    language: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    opening: Mapped[str] = mapped_column(Text)    # how to open: who calls, from which office, amount, periods
    replies: Mapped[str] = mapped_column(Text)    # what to say to the usual replies
    offer: Mapped[str] = mapped_column(Text)      # payment methods, a plan, hardship, the dispute route
    never_say: Mapped[str] = mapped_column(Text)  # what may never be said
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payday(db.Model):
    """A payday a resident mentioned (day of the month), for best-time hints. The newest row
    of a unit stands; a row with ``day_of_month`` NULL clears it."""

    __tablename__ = "paydays"
    __table_args__ = (CheckConstraint("day_of_month IS NULL OR (day_of_month BETWEEN 1 AND 31)",
                                      name="day_in_month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VisitSheet(db.Model):
    """A printed route for door visits (外访): its households in walking order, its PDF."""

    __tablename__ = "visit_sheets"
    id: Mapped[int] = mapped_column(primary_key=True)
    estate_id: Mapped[int] = mapped_column(ForeignKey("estates.id"))
    buildings: Mapped[str] = mapped_column(String(500))  # building ids, comma-separated, as chosen
    visit_on: Mapped[date] = mapped_column(Date)
    sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    items = relationship("VisitSheetItem", order_by="VisitSheetItem.position")


class VisitSheetItem(db.Model):
    """A household on a visit sheet, at its place in the route, with what the sheet printed."""

    __tablename__ = "visit_sheet_items"
    __table_args__ = (UniqueConstraint("sheet_id", "position", name="uq_visit_sheet_items_position"),
                      UniqueConstraint("sheet_id", "unit_id", name="uq_visit_sheet_items_unit"))
    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(ForeignKey("visit_sheets.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    position: Mapped[int] = mapped_column(Integer)
    owed_fen: Mapped[int] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String(20))


class CommissionScheme(db.Model):
    """A version of the office's commission scheme (提成), in force from ``effective_from``
    (the first day of a month) until the next version. ``definition`` is the JSON that
    ``arrears.domain.commission.parse_scheme`` reads. Never edited: a change is a new row."""

    __tablename__ = "commission_schemes"
    __table_args__ = (CheckConstraint(_in("kind", COMMISSION_KINDS), name="known_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    definition: Mapped[str] = mapped_column(Text)
    effective_from: Mapped[date] = mapped_column(Date, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
