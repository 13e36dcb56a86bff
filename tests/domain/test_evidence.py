"""The evidence hash chain (SPEC §8).

The hash is recomputed here with ``hashlib`` and ``json`` directly, from the SPEC's
words, so that the chain format is pinned by something other than the code under test.
Tampering with any stored event must make verification name the first event that no
longer matches, and pass again once the event is restored.
"""
import copy
import hashlib
import json

import pytest

from arrears.domain.errors import ChainBroken
from arrears.domain.evidence import GENESIS, canonical_json, event_hash, seal, verify_events

UNIT = "示例花园/3栋/1201"

EVENTS = [
    ("2026-01-01T00:00:00Z", "charge_billed", "system",
     {"period": "2026-01", "fee_item": "物业管理费", "amount": "300.00", "due_date": "2026-01-31"}),
    ("2026-02-15T02:30:00Z", "contact", "收费员王芳",
     {"channel": "phone", "outcome": "承诺月底付款", "reason": "hardship"}),
    ("2026-03-02T06:00:00Z", "payment_posted", "收费员王芳",
     {"amount": "100.00", "method": "wechat", "reference": "WX-0001"}),
    ("2026-04-10T01:00:00Z", "notice_issued", "主管李强",
     {"serial": "SL-2026-000123", "kind": "demand", "note": "催款通知书 \"引号\" \\ 反斜杠"}),
    ("2026-04-12T08:00:00Z", "delivery_recorded", "收费员王芳",
     {"serial": "SL-2026-000123", "method": "hand_signed", "signer": "张三", "relation": "owner"}),
]


def spec_hash(event):
    """SPEC §8 word for word: sha256_hex(prev_hash + "\\n" + canonical_json(event without "hash"))."""
    body = {key: value for key, value in event.items() if key != "hash"}
    text = body["prev_hash"] + "\n" + json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_chain():
    chain, prev_hash = [], GENESIS
    for seq, (at, kind, actor, data) in enumerate(EVENTS, start=1):
        event = seal(seq, at, kind, actor, UNIT, data, prev_hash)
        chain.append(event)
        prev_hash = event["hash"]
    return chain


def broken_at(chain):
    with pytest.raises(ChainBroken) as caught:
        verify_events(chain)
    return caught.value.seq


def test_genesis_is_64_zeros():
    assert GENESIS == "0" * 64
    assert build_chain()[0]["prev_hash"] == "0" * 64


def test_canonical_json_keeps_chinese_literally():
    text = canonical_json({"unit": UNIT, "b": 1, "a": [1, "张三"]})
    assert text == '{"a":[1,"张三"],"b":1,"unit":"示例花园/3栋/1201"}'
    assert "\\u" not in text


def test_sealed_event_has_exactly_the_spec_fields():
    event = build_chain()[0]
    assert set(event) == {"seq", "at", "kind", "actor", "unit", "data", "prev_hash", "hash"}
    assert len(event["hash"]) == 64
    assert set(event["hash"]) <= set("0123456789abcdef")


def test_hash_is_the_spec_formula():
    chain = build_chain()
    for event in chain:
        assert event["hash"] == spec_hash(event)
        assert event_hash(event) == event["hash"]
    for earlier, later in zip(chain, chain[1:]):
        assert later["prev_hash"] == earlier["hash"]


def test_the_hashed_text_holds_utf8_chinese_not_escapes():
    event = build_chain()[0]
    body = {key: value for key, value in event.items() if key != "hash"}
    hashed_text = event["prev_hash"] + "\n" + canonical_json(body)
    assert "示例花园/3栋/1201" in hashed_text
    assert "物业管理费" in hashed_text
    assert event["hash"] == hashlib.sha256(hashed_text.encode("utf-8")).hexdigest()
    # ensure_ascii=True would give a different text, hence a different hash:
    escaped = event["prev_hash"] + "\n" + json.dumps(body, sort_keys=True, separators=(",", ":"))
    assert "\\u793a" in escaped
    assert hashlib.sha256(escaped.encode("utf-8")).hexdigest() != event["hash"]


def test_hash_ignores_a_stored_hash_key_but_covers_every_other_field():
    event = build_chain()[1]
    assert event_hash({**event, "hash": "f" * 64}) == event["hash"]
    for field, new_value in [("seq", 9), ("at", "2026-02-15T02:30:01Z"), ("kind", "visit"),
                             ("actor", "someone"), ("unit", None), ("data", {}),
                             ("prev_hash", "1" * 64)]:
        assert event_hash({**event, field: new_value}) != event["hash"], field


def test_intact_chain_verifies_and_counts():
    assert verify_events(build_chain()) == 5
    assert verify_events([]) == 0


def test_tampered_content_names_that_event():
    chain = build_chain()
    chain[2]["data"]["amount"] = "10.00"
    assert broken_at(chain) == 3


def test_tampered_chinese_text_names_that_event():
    chain = build_chain()
    chain[4]["data"]["signer"] = "李四"
    assert broken_at(chain) == 5


def test_tampered_prev_hash_names_that_event():
    chain = build_chain()
    chain[3]["prev_hash"] = "0" * 64
    assert broken_at(chain) == 4


def test_rehashed_forgery_is_caught_at_the_next_event():
    # Whoever edits event 2 and recomputes its hash still breaks event 3's link.
    chain = build_chain()
    chain[1]["data"]["outcome"] = "拒绝付款"
    chain[1]["hash"] = spec_hash(chain[1])
    assert broken_at(chain) == 3


def test_swapped_order_names_the_first_misplaced_position():
    chain = build_chain()
    chain[1], chain[2] = chain[2], chain[1]
    assert broken_at(chain) == 2


def test_swapped_contents_under_the_same_seq_names_the_first():
    # Raw SQL could swap two rows' contents and keep the seq column in order.
    chain = build_chain()
    second, third = chain[1], chain[2]
    chain[1] = {**third, "seq": 2}
    chain[2] = {**second, "seq": 3}
    assert broken_at(chain) == 2


def test_deleted_event_is_named():
    chain = build_chain()
    del chain[2]
    assert broken_at(chain) == 3


def test_deleted_first_event_is_named():
    chain = build_chain()
    del chain[0]
    assert broken_at(chain) == 1


def test_deleted_last_event_is_left_to_the_printed_chain_head():
    # A chain cut at its end is still a valid chain: the head printed on notices,
    # receipts and bundles (SPEC §8) is what catches it, not verify_events.
    chain = build_chain()
    head = chain[-1]
    assert verify_events(chain[:-1]) == 4
    assert (head["seq"], head["hash"][:16]) != (chain[-2]["seq"], chain[-2]["hash"][:16])


def test_verification_passes_again_once_restored():
    chain = build_chain()
    original = copy.deepcopy(chain[2])
    chain[2]["actor"] = "someone else"
    assert broken_at(chain) == 3
    chain[2] = original
    assert verify_events(chain) == 5


def test_the_first_broken_event_is_named_when_several_are_broken():
    chain = build_chain()
    chain[3]["data"]["kind"] = "final"
    chain[1]["kind"] = "sms"
    assert broken_at(chain) == 2
