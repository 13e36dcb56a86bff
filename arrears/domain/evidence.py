"""The evidence hash chain (SPEC §8).

Event ``n`` is ``{seq, at, kind, actor, unit, data, prev_hash, hash}`` with
``hash = sha256_hex(prev_hash + "\\n" + canonical_json(event without "hash"))``.
The first event's ``prev_hash`` is 64 zeros. Invariant: changing, reordering or
removing any stored event makes ``verify_events`` name the first event that no
longer matches.
"""
import hashlib
import json

from .errors import ChainBroken

GENESIS = "0" * 64
FIELDS = ("seq", "at", "kind", "actor", "unit", "data", "prev_hash")


def canonical_json(value):
    """JSON with sorted keys, no spaces, real UTF-8 (not \\u escapes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event):
    """The hash of an event mapping (its ``hash`` key, if any, is left out)."""
    body = {name: event[name] for name in FIELDS}
    text = body["prev_hash"] + "\n" + canonical_json(body)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(seq, at, kind, actor, unit, data, prev_hash):
    """A new event mapping, hash included."""
    event = {"seq": seq, "at": at, "kind": kind, "actor": actor, "unit": unit,
             "data": data, "prev_hash": prev_hash}
    event["hash"] = event_hash(event)
    return event


def verify_events(events):
    """Check events in stored order; returns the count. Raises ``ChainBroken`` naming the
    first event whose sequence, link or hash does not match."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for event in events:
        seq = event["seq"]
        if seq != expected_seq:
            if seq > expected_seq:
                raise ChainBroken(expected_seq, f"missing: the chain jumps from {expected_seq - 1} to {seq}")
            raise ChainBroken(seq, f"out of order: expected {expected_seq}")
        if event["prev_hash"] != prev_hash:
            raise ChainBroken(seq, "prev_hash does not match the previous event's hash")
        if event_hash(event) != event["hash"]:
            raise ChainBroken(seq, "hash does not match the event's content")
        prev_hash, expected_seq, count = event["hash"], seq + 1, count + 1
    return count
