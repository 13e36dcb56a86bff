"""Call guides (话术, issue 7 part 1): what a clerk says on a call, per stage, reason and language.

A guide is keyed by ``(stage, reason, language)``: a collection stage of SPEC §5
(``reminder``, ``demand``, ``final``, ``legal``), a reason a resident gives (SPEC §5's
codes) or ``opening`` for the first call before any reason is given, and ``zh_CN`` or
``en``. It has four sections: ``opening``, ``replies``, ``offer`` and ``never_say``.

Invariants:
- guides are never changed: an admin's edit adds the next version (``call_guides`` is
  append-only, enforced by triggers), and the guide in force is the highest version;
- version 1 of every key comes from the shipped texts (``arrears/guides/<language>.json``),
  added by ``ensure_shipped_guides`` — at ``init-db``, in the demo, or lazily the first time
  a key is read — so a fresh database always has a guide for every key;
- no version in force says what may never be said: ``edit_guide`` refuses an empty
  section, an unknown placeholder, and, in ``opening``, ``replies`` and ``offer``, any
  phrase that threatens to cut a utility (Civil Code art. 944) or claims to be a court,
  the police, a bank or a law firm (``FORBIDDEN_PHRASES``; ``never_say`` is exempt, it
  names them). The shipped texts pass the same check (a test says so);
- a contact links the version in force when it was logged (``contacts.guide_id``); later
  edits add rows and so never change what an older contact links to;
- every version added has its evidence event: ``call_guides_seeded`` (shipped texts) or
  ``call_guide_edited`` (an admin's edit, with the texts).
"""
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import GUIDE_REASONS, GUIDE_STAGES, NOTICE_LANGUAGES, CallGuide
from .errors import ServiceError
from .evidence import append_event
from .transaction import atomic

SECTIONS = ("opening", "replies", "offer", "never_say")
CHECKED_SECTIONS = ("opening", "replies", "offer")  # never_say names the forbidden things
GUIDE_LANGUAGES = tuple(NOTICE_LANGUAGES)
MAX_SECTION = 4000
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "guides")
PLACEHOLDERS = ("office", "owner", "unit", "amount", "principal", "late_fee", "periods", "days_overdue",
                "office_phone", "office_address", "office_hours", "ways_to_pay", "relief_contact",
                "quiet_from", "quiet_until", "max_attempts")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Phrases no guide may say (checked in opening, replies and offer, in both languages,
# whatever the guide's language). Chinese phrases match with blanks ignored; English ones
# case-insensitively with runs of blanks as one. Short on purpose: it catches the usual
# slips ("停水", "this is the court"), and the never_say box and training do the rest.
FORBIDDEN_PHRASES = {
    "utility_cut": (
        "停水", "停电", "停气", "停暖", "停止供水", "停止供电", "停止供暖", "停止供气", "停供", "断水", "断电",
        "断气", "断暖", "断供", "拉闸", "限水", "限电", "限气", "锁水表", "锁电表",
        "cut off", "cut your", "cutting off", "shut off", "switch off", "turn off", "disconnect", "disconnected",
        "disconnection", "power cut", "water cut",
        "stop your water", "stop the water", "stop your heating", "stop the heating", "stop your electricity",
        "stop the electricity", "stop the gas", "stop your gas",
    ),
    "impersonation": (
        "我是法院", "我们是法院", "法院工作人员", "法院的工作人员", "代表法院", "法官", "执行局", "我是警察",
        "我们是警察", "公安", "警方", "派出所", "我是律师", "我们是律师", "律师事务所", "律所", "我是银行",
        "我们是银行", "银行工作人员", "银行的工作人员",
        "this is the court", "we are the court", "from the court", "court officer", "on behalf of the court",
        "bailiff", "judge", "police", "this is your bank", "this is the bank", "from the bank", "from your bank",
        "we are the bank", "bank officer", "law firm", "i am a lawyer", "i'm a lawyer", "we are lawyers",
        "i am your lawyer",
    ),
}


class InvalidGuide(ServiceError):
    """A guide was refused. ``section`` names the section at fault (or None), ``code`` the
    rule (``unknown_key``, ``empty_section``, ``too_long``, ``forbidden_phrase``,
    ``unknown_placeholder``, ``unchanged``, ``stale``), ``detail`` the phrase, placeholder
    or version concerned; ``kind`` of a forbidden phrase: ``utility_cut`` or ``impersonation``."""

    def __init__(self, message, section=None, code=None, detail=None, **params):
        if section is not None:
            params.setdefault("section", section)
        super().__init__(message, **params)
        self.section = section
        self.code = code
        self.detail = detail
        self.kind = None


# -- keys and the shipped texts -------------------------------------------------------------

def check_key(stage, reason, language):
    """Raise ``InvalidGuide`` (``unknown_key``) unless ``(stage, reason, language)`` is a guide's key."""
    for name, value, allowed in (("stage", stage, GUIDE_STAGES), ("reason", reason, GUIDE_REASONS),
                                 ("language", language, GUIDE_LANGUAGES)):
        if value not in allowed:
            raise InvalidGuide("%(name)s %(value)s must be one of %(allowed)s", code="unknown_key", detail=name,
                               name=name, value=repr(value), allowed=", ".join(allowed))


def all_keys():
    return [(stage, reason, language) for language in GUIDE_LANGUAGES for stage in GUIDE_STAGES
            for reason in GUIDE_REASONS]


@lru_cache(maxsize=None)
def _shipped_file(language):
    with open(os.path.join(SHIPPED_DIR, f"{language}.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _join(*parts):
    return "\n".join(part for part in parts if part)


def shipped_texts(stage, reason, language):
    """The four sections of the shipped guide for the key (see ``arrears/guides/*.json``):
    the stage's ``opening`` guide; or the reason's texts with the stage's replies/offer
    lines appended and the stage's per-reason sections in their place where it has them.
    ``never_say`` is the common list and the stage's line."""
    check_key(stage, reason, language)
    shipped = _shipped_file(language)
    stage_texts = shipped["stages"][stage]
    if reason == "opening":
        texts = dict(stage_texts["opening"])
    else:
        base = shipped["reasons"][reason]
        override = stage_texts.get("reasons", {}).get(reason, {})
        texts = {"opening": override.get("opening", base["opening"]),
                 "replies": override.get("replies") or _join(base["replies"], stage_texts.get("replies")),
                 "offer": override.get("offer") or _join(base["offer"], stage_texts.get("offer"))}
    texts["never_say"] = _join(shipped["never_say"], stage_texts.get("never_say"))
    return {section: texts[section] for section in SECTIONS}


def texts_sha256(texts):
    return hashlib.sha256(json.dumps({s: texts[s] for s in SECTIONS}, ensure_ascii=False, sort_keys=True)
                          .encode("utf-8")).hexdigest()


def guide_texts(guide):
    return {section: getattr(guide, section) for section in SECTIONS}


# -- checking a text ------------------------------------------------------------------------

def _normalise(text):
    text = unicodedata.normalize("NFKC", text).lower().replace("-", " ").replace("’", "'")
    return re.sub(r"\s+", " ", text)


def forbidden_phrases_in(text):
    """The forbidden phrases ``text`` contains, in list order: ``[(phrase, kind)]``."""
    spaced = _normalise(text)
    unspaced = spaced.replace(" ", "")
    found = []
    for kind, phrases in FORBIDDEN_PHRASES.items():
        for phrase in phrases:
            if phrase.isascii():
                hit = re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", spaced)
            else:
                hit = phrase in unspaced
            if hit:
                found.append((phrase, kind))
    return found


def clean_texts(texts):
    """The four sections stripped, line ends normalised. Raises ``InvalidGuide`` for a
    missing or empty section, one longer than ``MAX_SECTION`` characters, a placeholder
    not in ``PLACEHOLDERS``, or a forbidden phrase in opening/replies/offer — naming the
    section and the phrase or placeholder."""
    cleaned = {}
    for section in SECTIONS:
        text = (texts.get(section) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if not text:
            raise InvalidGuide("the section %(section)s is empty; every section needs text", section=section,
                               code="empty_section")
        if len(text) > MAX_SECTION:
            raise InvalidGuide("the section %(section)s is longer than %(count)s characters", section=section,
                               code="too_long", detail=str(MAX_SECTION), count=MAX_SECTION)
        for name in PLACEHOLDER.findall(text):
            if name not in PLACEHOLDERS:
                raise InvalidGuide("the section %(section)s uses %(placeholder)s, which is not a placeholder "
                                   "(use %(allowed)s)", section=section, code="unknown_placeholder",
                                   detail="{" + name + "}", placeholder="{" + name + "}",
                                   allowed=", ".join("{" + p + "}" for p in PLACEHOLDERS))
        if section in CHECKED_SECTIONS:
            found = forbidden_phrases_in(text)
            if found:
                phrase, kind = found[0]
                if kind == "utility_cut":
                    refused = InvalidGuide("the section %(section)s says “%(phrase)s”, which threatens to cut a "
                                           "utility; a guide may never say it", section=section,
                                           code="forbidden_phrase", detail=phrase, phrase=phrase)
                else:
                    refused = InvalidGuide("the section %(section)s says “%(phrase)s”, which claims to be a court, "
                                           "the police, a bank or a law firm; a guide may never say it",
                                           section=section, code="forbidden_phrase", detail=phrase, phrase=phrase)
                refused.kind = kind
                raise refused
        cleaned[section] = text
    return cleaned


# -- reading and seeding ----------------------------------------------------------------------

def ensure_shipped_guides(actor="system"):
    """Add version 1 from the shipped texts for every key that has no version yet (all in
    one transaction, with one ``call_guides_seeded`` event). Idempotent; returns the rows
    added. Two processes seeding at once: the second adds nothing (the unique version
    constraint refuses its rows inside a savepoint)."""
    with atomic():
        present = set(db.session.execute(
            select(CallGuide.stage, CallGuide.reason, CallGuide.language).distinct()).all())
        missing = [key for key in all_keys() if key not in present]
        if not missing:
            return []
        try:
            with db.session.begin_nested():
                rows = [CallGuide(stage=stage, reason=reason, language=language, version=1, created_by=actor,
                                  **shipped_texts(stage, reason, language))
                        for stage, reason, language in missing]
                db.session.add_all(rows)
                db.session.flush()
                append_event("call_guides_seeded", actor, None, {
                    "source": "arrears/guides",
                    "guides": [{"id": row.id, "stage": row.stage, "reason": row.reason, "language": row.language,
                                "version": 1, "sha256": texts_sha256(guide_texts(row))} for row in rows]})
        except IntegrityError:  # seeded at the same moment by another process
            return []
        return rows


def _in_force_query(stage=None, language=None):
    latest = (select(CallGuide.stage, CallGuide.reason, CallGuide.language,
                     func.max(CallGuide.version).label("version"))
              .group_by(CallGuide.stage, CallGuide.reason, CallGuide.language))
    if stage is not None:
        latest = latest.where(CallGuide.stage == stage)
    if language is not None:
        latest = latest.where(CallGuide.language == language)
    latest = latest.subquery()
    return select(CallGuide).join(latest, (CallGuide.stage == latest.c.stage) & (CallGuide.reason == latest.c.reason)
                                  & (CallGuide.language == latest.c.language)
                                  & (CallGuide.version == latest.c.version))


def guides_in_force(language, stage=None):
    """``{(stage, reason): CallGuide}`` in force for ``language`` (and ``stage``), every key
    present (the shipped texts are added first where a key has none)."""
    if language not in GUIDE_LANGUAGES:
        check_key(GUIDE_STAGES[0], GUIDE_REASONS[0], language)
    wanted = len(GUIDE_REASONS) * (1 if stage else len(GUIDE_STAGES))
    found = {(g.stage, g.reason): g for g in db.session.execute(_in_force_query(stage, language)).scalars()}
    if len(found) < wanted:
        ensure_shipped_guides()
        found = {(g.stage, g.reason): g for g in db.session.execute(_in_force_query(stage, language)).scalars()}
    return found


def guide_in_force(stage, reason, language):
    """The highest version for the key (seeding the shipped texts when it has none).
    Raises ``InvalidGuide`` (``unknown_key``) for a key that is not a guide's."""
    check_key(stage, reason, language)
    query = (select(CallGuide).where(CallGuide.stage == stage, CallGuide.reason == reason,
                                     CallGuide.language == language)
             .order_by(CallGuide.version.desc()).limit(1))
    guide = db.session.execute(query).scalar_one_or_none()
    if guide is None:
        ensure_shipped_guides()
        guide = db.session.execute(query).scalar_one()
    return guide


def guide_history(stage, reason, language):
    """Every version of the key, newest first (seeding the shipped texts when it has none)."""
    guide_in_force(stage, reason, language)
    return db.session.execute(select(CallGuide).where(CallGuide.stage == stage, CallGuide.reason == reason,
                                                      CallGuide.language == language)
                              .order_by(CallGuide.version.desc())).scalars().all()


def guide_version(stage, reason, language, version):
    """The given version of the key, or None."""
    check_key(stage, reason, language)
    return db.session.execute(select(CallGuide).where(
        CallGuide.stage == stage, CallGuide.reason == reason, CallGuide.language == language,
        CallGuide.version == version)).scalar_one_or_none()


# -- editing ----------------------------------------------------------------------------------

def edit_guide(stage, reason, language, texts, actor, based_on=None):
    """An admin's edit: add the next version of the key with ``texts`` (``{section: text}``
    for all four sections) and a ``call_guide_edited`` event. ``based_on``: the version
    the admin's form showed; when another version was saved since, the edit is refused
    (``stale``) rather than silently overwriting it. Raises ``InvalidGuide`` (see
    ``clean_texts``; also ``unchanged`` when the texts are those in force)."""
    check_key(stage, reason, language)
    cleaned = clean_texts(texts)
    try:
        with atomic():
            current = guide_in_force(stage, reason, language)
            if based_on is not None and based_on != current.version:
                raise InvalidGuide("version %(version)s was saved after the version %(based_on)s you edited; "
                                   "reload the guide and make your change again", code="stale",
                                   detail=str(current.version), version=current.version, based_on=based_on)
            if cleaned == guide_texts(current):
                raise InvalidGuide("nothing changed: the texts are those of version %(version)s",
                                   code="unchanged", detail=str(current.version), version=current.version)
            guide = CallGuide(stage=stage, reason=reason, language=language, version=current.version + 1,
                              created_by=actor, **cleaned)
            db.session.add(guide)
            db.session.flush()
            append_event("call_guide_edited", actor, None, {
                "guide_id": guide.id, "stage": stage, "reason": reason, "language": language,
                "version": guide.version, "previous_id": current.id, "previous_version": current.version,
                "sha256": texts_sha256(cleaned), "texts": cleaned})
            return guide
    except IntegrityError:  # another admin saved the same version at the same moment
        raise InvalidGuide("another version was saved at the same moment; reload the guide and make your "
                           "change again", code="stale") from None


# -- the guide of a household -----------------------------------------------------------------

def household_stage(unit, today):
    """The household's stage on ``today`` (the estate's date) as the household list and
    the dashboard give it (``households.household_stages``: oldest unpaid charge, amount
    owed, escalation, demand deadline) — the same stage the household page shows."""
    from .households import escalation_states, household_stages
    from .reports import arrears_by_unit
    figures = arrears_by_unit(today, unit_ids=[unit.id])
    return household_stages(figures, today, escalation_states([unit.id]), [unit.id])[unit.id][0]


def guide_for_contact(unit, reason, language, today=None):
    """The guide in force for a contact logged now: the household's stage today, ``reason``
    (``opening`` when none was given), ``language``. None when the household has no
    collection stage (nothing overdue, or ``closed``)."""
    from .ledger import local_today
    today = today or local_today(unit.building.estate.timezone)
    stage = household_stage(unit, today)
    if stage not in GUIDE_STAGES:
        return None
    return guide_in_force(stage, reason or "opening", language if language in GUIDE_LANGUAGES else "zh_CN")


@dataclass(frozen=True)
class FilledGuide:
    """A guide's sections with the placeholders filled in for one household."""
    guide: CallGuide
    opening: str
    replies: str
    offer: str
    never_say: str


UNSET = {"zh_CN": "【未设置：{what}】", "en": "[not set: {what}]"}
UNSET_NAMES = {
    "zh_CN": {"office_phone": "服务中心电话", "office_address": "服务中心地址", "office_hours": "办公时间",
              "relief_contact": "困难与争议联系人", "owner": "业主姓名"},
    "en": {"office_phone": "office phone", "office_address": "office address", "office_hours": "opening hours",
           "relief_contact": "hardship and dispute contact", "owner": "owner's name"},
}


def _periods_text(periods, language):
    periods = list(dict.fromkeys(periods))
    if not periods:
        return "—"
    if len(periods) <= 4:
        return ("、" if language == "zh_CN" else ", ").join(periods)
    if language == "zh_CN":
        return f"{periods[0]} 至 {periods[-1]}（{len(periods)} 期）"
    return f"{periods[0]} to {periods[-1]} ({len(periods)} periods)"


def _ways_to_pay(estate, language):
    zh = language == "zh_CN"
    ways = []
    if estate.wechat_payee:
        ways.append(f"微信（收款方 {estate.wechat_payee}）" if zh else f"WeChat Pay (payee {estate.wechat_payee})")
    if estate.alipay_payee:
        ways.append(f"支付宝（收款方 {estate.alipay_payee}）" if zh else f"Alipay (payee {estate.alipay_payee})")
    if estate.bank_account_no:
        bank = estate.bank_name or ""
        name = estate.bank_account_name or estate.office_name or ""
        ways.append(f"银行转账（{bank} 户名 {name} 账号 {estate.bank_account_no}）" if zh
                    else f"bank transfer ({bank}, account {name}, no. {estate.bank_account_no})")
    place = [part for part in (estate.office_address, estate.office_hours) if part]
    if zh:
        ways.append("到服务中心缴纳" + (f"（{'，'.join(place)}）" if place else ""))
    else:
        ways.append("at the office" + (f" ({', '.join(place)})" if place else ""))
    return "、".join(ways) if zh else "; ".join(ways)


def grouped_yuan(fen):
    """Fen as yuan with two decimals and thousands grouped, as every screen shows money
    (``web/formats.money``, the same in Chinese and English): 800834 -> ``8,008.34``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def _unit_text(unit, language):
    building = unit.building
    if language == "zh_CN":
        return f"{building.estate.name}{building.name}{unit.number}室"
    return f"unit {unit.number}, {building.name}, {building.estate.name}"


def placeholder_values(unit, language, statement=None, today=None, policy=None):
    """``{placeholder: text}`` for one household in ``language``: the office profile, the
    current owner, and the figures of the engine's statement on ``today`` (the estate's
    date): ``amount`` = principal + late fee outstanding (yuan, two decimals, thousands
    grouped as the screens show them: ``8,008.34``; also ``principal``, ``late_fee``), ``periods``
    = the periods with anything outstanding, ``days_overdue`` = of the oldest charge with
    principal outstanding. Missing profile fields show as ``[not set: …]``."""
    from .collection import contact_policy
    from .ledger import local_today, unit_statement
    from .notices import office_context
    estate = unit.building.estate
    today = today or local_today(estate.timezone)
    if statement is None:
        statement, _limitation = unit_statement(unit, today)
    policy = policy or contact_policy()
    office = office_context(estate)
    if language != "zh_CN" and not estate.office_name:
        office["name"] = f"{estate.name} property management office"
    unset = UNSET[language if language in UNSET else "en"]
    names = UNSET_NAMES[language if language in UNSET_NAMES else "en"]
    owners = [o for o in unit.ownerships if o.start_on <= today and (o.end_on is None or today <= o.end_on)]
    owner = (owners or list(unit.ownerships)[-1:] or [None])[0]
    owed = [line.charge.due_date for line in statement.charges if line.principal_outstanding_fen > 0]
    periods = [line.charge.period for line in statement.charges
               if line.principal_outstanding_fen or line.late_fee_outstanding_fen]
    values = {
        "office": office["name"], "owner": owner.owner.name if owner else None, "unit": _unit_text(unit, language),
        "amount": grouped_yuan(statement.total_outstanding_fen),
        "principal": grouped_yuan(statement.principal_outstanding_fen),
        "late_fee": grouped_yuan(statement.late_fee_outstanding_fen), "periods": _periods_text(periods, language),
        "days_overdue": str(max(0, (today - min(owed)).days) if owed else 0),
        "office_phone": office["phone"], "office_address": office["address"], "office_hours": office["hours"],
        "ways_to_pay": _ways_to_pay(estate, language), "relief_contact": office["relief_contact"],
        "quiet_from": policy.quiet_from.strftime("%H:%M"), "quiet_until": policy.quiet_until.strftime("%H:%M"),
        "max_attempts": str(policy.max_attempts),
    }
    return {key: value if value else unset.format(what=names.get(key, key)) for key, value in values.items()}


def fill_text(text, values):
    """``text`` with each known ``{placeholder}`` replaced; anything else left as written."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def fill(guide, unit, statement=None, today=None, values=None):
    """The guide with its placeholders filled from ``unit`` (see ``placeholder_values``;
    ``statement``: the engine's statement when the caller has it already)."""
    values = values or placeholder_values(unit, guide.language, statement=statement, today=today)
    return FilledGuide(guide, *(fill_text(getattr(guide, section), values) for section in SECTIONS))


def contact_guides(unit, stage, language, statement=None, today=None):
    """What the household page shows beside the contact form: ``{reason: FilledGuide}`` for
    the household's ``stage`` (``opening`` first, then each reason code), or None when the
    household has no collection stage."""
    if stage not in GUIDE_STAGES:
        return None
    language = language if language in GUIDE_LANGUAGES else "zh_CN"
    in_force = guides_in_force(language, stage)
    values = placeholder_values(unit, language, statement=statement, today=today)
    return {reason: fill(in_force[(stage, reason)], unit, values=values) for reason in GUIDE_REASONS}


def default_language(config=None):
    config = config if config is not None else current_app.config
    language = config.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    return language if language in GUIDE_LANGUAGES else "zh_CN"
