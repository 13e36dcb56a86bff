"""Anchoring the evidence chain (SPEC §8; issue 6): signed checkpoints of its head.

A checkpoint states the chain's head — ``seq`` and ``hash`` — at a moment, signed with
the office's key. Kept outside the database (``ARREARS_DATA_DIR/checkpoints/``, and
printed or copied elsewhere), it pins the history down: a chain that was truncated (it
ends before the checkpoint's ``seq``) or rebuilt (its event ``seq`` has another hash)
no longer matches. ``verify_against`` names which.

File format (JSON, UTF-8): ``{"checkpoint": {"seq", "hash", "at", "events"},
"signature": base64, "algorithm": "ecdsa-sha256" | "rsa-pkcs1v15-sha256",
"certificate": PEM}``; the signature is over ``canonical_json(checkpoint)``.
"""
import base64
import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from flask import current_app
from sqlalchemy import func, select

from ..domain.evidence import canonical_json
from ..extensions import db
from ..models import EvidenceEvent
from .errors import ServiceError
from .evidence import append_event, chain_head, utc_stamp
from .transaction import atomic


def folder():
    return os.path.join(current_app.config["ARREARS_DATA_DIR"], "checkpoints")


def _material():
    from ..documents.signing import signing_material
    return signing_material(current_app.config["ARREARS_DATA_DIR"], current_app.config)


def _sign(payload):
    material = _material()
    key = serialization.load_pem_private_key(material.key_path.read_bytes(), password=material.key_password)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(payload, ec.ECDSA(hashes.SHA256())), "ecdsa-sha256", material.cert_path.read_bytes()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(payload, padding.PKCS1v15(), hashes.SHA256()), "rsa-pkcs1v15-sha256", \
            material.cert_path.read_bytes()
    raise ServiceError("the office key is neither EC nor RSA; checkpoints cannot be signed with it")


def write_checkpoint(actor="system"):
    """Sign the chain's head and write it to the checkpoints folder; returns the path.
    Appends a ``checkpoint_written`` event (after the head it pins)."""
    seq, digest = chain_head()
    count = db.session.execute(select(func.count()).select_from(EvidenceEvent)).scalar_one()
    checkpoint = {"seq": seq, "hash": digest, "at": utc_stamp(), "events": count}
    payload = canonical_json(checkpoint).encode("utf-8")
    signature, algorithm, certificate = _sign(payload)
    document = {"checkpoint": checkpoint, "signature": base64.b64encode(signature).decode("ascii"),
                "algorithm": algorithm, "certificate": certificate.decode("ascii")}
    os.makedirs(folder(), exist_ok=True)
    local = datetime.now(ZoneInfo(current_app.config["ARREARS_TIMEZONE"]))
    path = os.path.join(folder(), f"checkpoint-{local:%Y%m%d-%H%M%S}-{seq}.json")
    temporary = path + ".part"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
    os.replace(temporary, path)
    _print(path, checkpoint, local.date())
    with atomic():
        append_event("checkpoint_written", actor, None, {"seq": seq, "hash": digest,
                                                         "file": os.path.basename(path)})
    return path


def _print(path, checkpoint, day):
    """A signed, printable PDF of the checkpoint next to its file (``….pdf``)."""
    from ..models import Estate
    from .notices import make_pdf, office_context
    estate = db.session.execute(select(Estate).order_by(Estate.id).limit(1)).scalar_one_or_none()
    office = office_context(estate) if estate is not None else {
        "name": current_app.config.get("ARREARS_OFFICE_NAME") or "物业服务中心", "address": "", "phone": ""}
    context = {"serial": f"CP-{checkpoint['seq']}", "issued_on": day, "copy": False, "office": office,
               "checkpoint": checkpoint, "file": os.path.basename(path),
               "chain_head": {"seq": checkpoint["seq"], "hash16": checkpoint["hash"][:16]}}
    pdf = make_pdf("checkpoint.html", context, "zh_CN", reason=f"证据链检查点 #{checkpoint['seq']}",
                   location=office["name"])
    with open(path[:-len(".json")] + ".pdf", "wb") as handle:
        handle.write(pdf)


def read_checkpoint(path):
    """``(checkpoint, problems)``: the checkpoint mapping, and why its file cannot be trusted."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        checkpoint = document["checkpoint"]
        seq, digest = int(checkpoint["seq"]), str(checkpoint["hash"])
        signature = base64.b64decode(document["signature"])
        certificate = x509.load_pem_x509_certificate(document["certificate"].encode("ascii"))
    except FileNotFoundError:
        return None, [f"{path}: no such file"]
    except (ValueError, KeyError, TypeError) as error:
        return None, [f"{path}: not a checkpoint file ({error.__class__.__name__})"]
    problems = []
    office = x509.load_pem_x509_certificate(_material().cert_path.read_bytes())
    if certificate.fingerprint(hashes.SHA256()) != office.fingerprint(hashes.SHA256()):
        problems.append(f"{os.path.basename(path)}: signed with a certificate that is not the office's")
    payload = canonical_json(checkpoint).encode("utf-8")
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            problems.append(f"{os.path.basename(path)}: unknown kind of key")
    except InvalidSignature:
        problems.append(f"{os.path.basename(path)}: the signature does not match its content (edited?)")
    return {"seq": seq, "hash": digest, "at": checkpoint.get("at")}, problems


def verify_against(path):
    """Why the database's chain does not match the checkpoint (empty: it does)."""
    checkpoint, problems = read_checkpoint(path)
    if checkpoint is None or problems:
        return problems
    seq = checkpoint["seq"]
    if seq == 0:
        return []
    stored = db.session.execute(select(EvidenceEvent.hash).where(EvidenceEvent.seq == seq)).scalar_one_or_none()
    head, _ = chain_head()
    if stored is None:
        return [f"truncated: the chain ends at event {head} but the checkpoint of {checkpoint['at']} "
                f"has event {seq}"]
    if stored != checkpoint["hash"]:
        return [f"rebuilt: event {seq}'s hash is {stored[:16]}… but the checkpoint of {checkpoint['at']} "
                f"says {checkpoint['hash'][:16]}…"]
    return []
