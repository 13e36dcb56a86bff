"""The office's PDF signatures (arrears.documents.signing): key pair, signing, stamp, checks.

No app is needed: every test works in its own ``tmp_path`` data directory and the
per-process caches are cleared around each test. The sample PDF is a real two-page
document made with WeasyPrint.
"""
import io
import multiprocessing
import os
import random
import stat
from datetime import datetime, timedelta, timezone

import flask
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pypdf import PdfReader
from pypdf.generic import ContentStream

from arrears.documents import signing
from arrears.documents.signing import (
    SignatureCheck, SigningError, ensure_signing_keys, sign_pdf, validate_pdf,
)

STAMP_BOX = (72, 100, 272, 160)


@pytest.fixture(scope="module")
def sample_pdf():
    import weasyprint
    html = """<html lang="zh"><body>
      <h1>催款通知书</h1><p>尊敬的业主：您好。SL-2026-000123</p>
      <p style="page-break-before: always">回执 / Acknowledgement slip</p>
    </body></html>"""
    return weasyprint.HTML(string=html).write_pdf()


@pytest.fixture(autouse=True)
def fresh_caches():
    signing.clear_caches()
    yield
    signing.clear_caches()


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def _sign(pdf, data_dir, **kwargs):
    return sign_pdf(pdf, data_dir=data_dir, reason="催款通知书 SL-2026-000123", location="示例花园",
                    **kwargs)


def _sig_widgets(reader, page_index):
    annotations = reader.pages[page_index].get("/Annots") or []
    return [a.get_object() for a in annotations if a.get_object().get("/FT") == "/Sig"]


# -- the key pair ---------------------------------------------------------------------------------

def test_key_pair_is_made_on_first_use_private_and_reused(data_dir, sample_pdf):
    key_path, cert_path = data_dir / "keys" / "signing-key.pem", data_dir / "keys" / "signing-cert.pem"
    assert not key_path.exists()

    _sign(sample_pdf, data_dir)
    first_key, first_cert = key_path.read_bytes(), cert_path.read_bytes()
    for path in (key_path, cert_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    signing.clear_caches()  # as a new process would
    _sign(sample_pdf, data_dir)
    assert key_path.read_bytes() == first_key
    assert cert_path.read_bytes() == first_cert

    cert = x509.load_pem_x509_certificate(first_cert)
    key = serialization.load_pem_private_key(first_key, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Arrears 物业服务中心"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Arrears"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=3649) < lifetime < timedelta(days=3651)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_cert_sign


def test_office_name_setting_names_the_certificate(data_dir):
    material = signing.signing_material(data_dir, {"ARREARS_OFFICE_NAME": "示例花园物业服务中心"})
    assert not material.configured
    cert = x509.load_pem_x509_certificate(material.cert_path.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "示例花园物业服务中心"


def _make_keys(data_dir):
    key_path, cert_path = ensure_signing_keys(data_dir)
    return key_path.read_bytes(), cert_path.read_bytes()


def test_processes_starting_at_once_agree_on_one_key_pair(data_dir):
    with multiprocessing.get_context("fork").Pool(6) as pool:
        results = pool.map(_make_keys, [data_dir] * 6)
    assert len(set(results)) == 1
    assert sorted(p.name for p in (data_dir / "keys").iterdir() if not p.name.startswith(".")) == [
        "signing-cert.pem", "signing-key.pem"]
    assert not [p for p in (data_dir / "keys").iterdir() if p.name.endswith(".tmp")]


def test_a_certificate_without_its_key_is_refused_not_replaced(data_dir):
    (data_dir / "keys").mkdir(parents=True)
    (data_dir / "keys" / "signing-cert.pem").write_bytes(b"kept")
    with pytest.raises(SigningError):
        ensure_signing_keys(data_dir)
    assert (data_dir / "keys" / "signing-cert.pem").read_bytes() == b"kept"


# -- signing and checking -------------------------------------------------------------------------

def test_a_signed_pdf_validates(data_dir, sample_pdf):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    signed = _sign(sample_pdf, data_dir)

    assert signed.startswith(sample_pdf)  # an incremental update: the original bytes are kept
    check = validate_pdf(signed, data_dir=data_dir)
    assert check == SignatureCheck(signed=True, intact=True, valid=True, trusted=True,
                                   covers_whole_file=True, signer="Arrears 物业服务中心",
                                   signed_at=check.signed_at, problem=None)
    assert check.ok
    assert before <= check.signed_at <= datetime.now(timezone.utc) + timedelta(seconds=1)

    value = _signature_value(signed)
    assert value["/SubFilter"] == "/ETSI.CAdES.detached"
    assert len(value["/Contents"]) == 8192 // 2  # bytes_reserved counts hex digits
    assert value["/Reason"] == "催款通知书 SL-2026-000123"


def _signature_value(pdf):
    reader = PdfReader(io.BytesIO(pdf))
    fields = [f for f in reader.get_fields().values() if f.get("/FT") == "/Sig"]
    assert len(fields) == 1
    return fields[0]["/V"].get_object()


def _flip_inside_first_stream(pdf):
    start = pdf.index(b"stream\n") + len(b"stream\n") + 10
    return pdf[:start] + bytes([pdf[start] ^ 0x01]) + pdf[start + 1:]


@pytest.mark.parametrize("tamper", [
    _flip_inside_first_stream,
    lambda pdf: pdf.replace(b"%PDF-1.7", b"%PDF-1.6", 1),
], ids=["page-content", "header"])
def test_one_changed_byte_in_the_signed_content_fails(data_dir, sample_pdf, tamper):
    signed = _sign(sample_pdf, data_dir)
    tampered = tamper(signed)
    assert len(tampered) == len(signed) and sum(a != b for a, b in zip(tampered, signed)) == 1

    check = validate_pdf(tampered, data_dir=data_dir)
    assert check.signed
    assert not (check.intact and check.valid)
    assert not check.ok
    assert "changed after signing" in check.problem


def test_bytes_appended_after_signing_are_detected(data_dir, sample_pdf):
    signed = _sign(sample_pdf, data_dir)
    check = validate_pdf(signed + b"\n% added later\n", data_dir=data_dir)
    assert check.signed and check.intact and check.valid and check.trusted
    assert not check.covers_whole_file
    assert "added after signing" in check.problem


def test_an_incremental_update_after_signing_is_detected(data_dir, sample_pdf):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    signed = _sign(sample_pdf, data_dir)
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.root["/ArrearsAddedLater"] = generic.NameObject("/Yes")
    writer.update_root()
    updated = io.BytesIO()
    writer.write(updated)

    check = validate_pdf(updated.getvalue(), data_dir=data_dir)
    assert check.signed and check.intact and check.valid
    assert not check.covers_whole_file and not check.ok
    assert "added after signing" in check.problem


def test_a_pdf_signed_with_another_key_is_not_trusted(tmp_path, sample_pdf):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ensure_signing_keys(ours)
    signed_elsewhere = _sign(sample_pdf, theirs)

    check = validate_pdf(signed_elsewhere, data_dir=ours)
    assert check.signed and check.intact and check.valid and check.covers_whole_file
    assert not check.trusted and not check.ok
    assert "does not trust" in check.problem
    assert validate_pdf(signed_elsewhere, data_dir=theirs).ok


def test_checking_where_no_certificate_exists_trusts_nothing_and_makes_no_keys(tmp_path, sample_pdf):
    signed = _sign(sample_pdf, tmp_path / "signer")
    empty = tmp_path / "empty"
    check = validate_pdf(signed, data_dir=empty)
    assert check.signed and not check.trusted and check.problem
    assert not empty.exists()


@pytest.mark.parametrize("garbage", [
    b"",
    random.Random(7).randbytes(4096),
    b"not a pdf at all",
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage",
    "催款通知书".encode("utf-8"),
], ids=["empty", "random", "text", "broken-pdf", "utf8"])
def test_garbage_is_reported_unsigned_without_raising(data_dir, garbage):
    check = validate_pdf(garbage, data_dir=data_dir)
    assert check.signed is False and not check.ok
    assert check.problem


def test_an_unsigned_pdf_is_reported_unsigned(data_dir, sample_pdf):
    check = validate_pdf(sample_pdf, data_dir=data_dir)
    assert not check.signed
    assert check.problem == "the PDF has no digital signature"


def test_a_truncated_signed_pdf_is_not_accepted(data_dir, sample_pdf):
    signed = _sign(sample_pdf, data_dir)
    for length in (len(signed) // 2, len(signed) - 100):
        check = validate_pdf(signed[:length], data_dir=data_dir)
        assert not check.ok and check.problem


# -- the visible stamp ----------------------------------------------------------------------------

def test_visible_stamp_sits_in_the_box_with_an_embedded_cjk_font(data_dir, sample_pdf):
    signed = _sign(sample_pdf, data_dir, field_box=STAMP_BOX, page=1,
                   stamp_text="电子签章 / 物业服务中心\n签署时间 %(ts)s")
    assert validate_pdf(signed, data_dir=data_dir).ok

    reader = PdfReader(io.BytesIO(signed))
    assert _sig_widgets(reader, 0) == []
    (widget,) = _sig_widgets(reader, 1)
    assert [float(v) for v in widget["/Rect"]] == [float(v) for v in STAMP_BOX]

    appearance = widget["/AP"]["/N"].get_object()
    fonts = [f.get_object() for f in appearance["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor
        assert "NotoSansCJK" in descriptor["/FontName"]

    assert "电子签章 / 物业服务中心" in _actual_text(appearance, reader)
    assert "签署时间 20" in _actual_text(appearance, reader)


def _actual_text(stream, reader):
    texts = []
    for operands, operator in ContentStream(stream, reader).operations:
        if operator == b"BDC" and len(operands) == 2 and hasattr(operands[1], "get"):
            actual = operands[1].get("/ActualText")
            if actual is not None:
                texts.append(str(actual))
    return "\n".join(texts)


def test_default_stamp_names_the_office(data_dir, sample_pdf):
    signed = _sign(sample_pdf, data_dir, field_box=STAMP_BOX)
    reader = PdfReader(io.BytesIO(signed))
    (widget,) = _sig_widgets(reader, 0)
    assert "Arrears 物业服务中心" in _actual_text(widget["/AP"]["/N"].get_object(), reader)


def test_without_a_box_the_signature_is_invisible(data_dir, sample_pdf):
    signed = _sign(sample_pdf, data_dir)
    reader = PdfReader(io.BytesIO(signed))
    widgets = _sig_widgets(reader, 0) + _sig_widgets(reader, 1)
    assert all(float(v) == 0 for w in widgets for v in w["/Rect"])


def test_signing_twice_adds_a_second_field_and_both_check(data_dir, sample_pdf):
    twice = _sign(_sign(sample_pdf, data_dir, field_box=STAMP_BOX), data_dir, field_box=STAMP_BOX, page=1)
    names = [f for f, v in PdfReader(io.BytesIO(twice)).get_fields().items() if v.get("/FT") == "/Sig"]
    assert sorted(names) == ["ArrearsSignature1", "ArrearsSignature2"]
    assert validate_pdf(twice, data_dir=data_dir).ok


# -- caching --------------------------------------------------------------------------------------

def test_twenty_signatures_load_the_signer_once(data_dir, sample_pdf, monkeypatch):
    loads = []
    real_load = signing._load_signer
    monkeypatch.setattr(signing, "_load_signer", lambda material: loads.append(material) or real_load(material))

    signed = [_sign(sample_pdf, data_dir) for _ in range(20)]
    assert len(loads) == 1
    assert len(set(signed)) == 20  # each is its own signature, not a cached result
    assert validate_pdf(signed[0], data_dir=data_dir).ok and validate_pdf(signed[-1], data_dir=data_dir).ok

    # Replacing the certificate file (newer mtime) makes the next signature load it again.
    cert_path = data_dir / "keys" / "signing-cert.pem"
    later = cert_path.stat().st_mtime + 10
    os.utime(cert_path, (later, later))
    _sign(sample_pdf, data_dir)
    assert len(loads) == 2


def test_the_stamp_font_is_built_once_and_its_factory_shared(data_dir, sample_pdf, monkeypatch):
    opened = []
    real_open_face = signing._open_face
    monkeypatch.setattr(signing, "_open_face", lambda *a: opened.append(a) or real_open_face(*a))

    for page in (0, 1, 0):
        _sign(sample_pdf, data_dir, field_box=STAMP_BOX, page=page)
    assert len(opened) == 1
    (font_file,) = (data_dir / "cache" / "fonts").glob("stamp-*.otf")
    assert font_file.stat().st_size < 200_000  # a cut-down face, not the 16 MB collection face
    assert signing._font_factory(font_file) is signing._font_factory(font_file)


# -- a CA-issued pair -----------------------------------------------------------------------------

def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CA Ltd")])


def _usage(**true):
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                 encipher_only=False, decipher_only=False)
    flags.update(true)
    return x509.KeyUsage(**flags)


@pytest.fixture
def ca_pair(tmp_path):
    """A tiny CA and a leaf it issued, as PEM files; the leaf key is passphrase-protected."""
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("Test Root CA")).issuer_name(_name("Test Root CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
               .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (x509.CertificateBuilder().subject_name(_name("示例花园物业服务中心")).issuer_name(ca_cert.subject)
                 .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now).not_valid_after(now + timedelta(days=90))
                 .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                 .add_extension(_usage(digital_signature=True, content_commitment=True), critical=True)
                 .sign(ca_key, hashes.SHA256()))
    directory = tmp_path / "ca"
    directory.mkdir()
    paths = {"key": directory / "leaf-key.pem", "cert": directory / "leaf-cert.pem",
             "chain": directory / "chain.pem"}
    paths["key"].write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    paths["cert"].write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    paths["chain"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return {
        "ARREARS_SIGNING_KEY": str(paths["key"]),
        "ARREARS_SIGNING_CERT": str(paths["cert"]),
        "ARREARS_SIGNING_CHAIN": str(paths["chain"]),
        "ARREARS_SIGNING_KEY_PASSWORD": "s3cret",
    }


def test_a_configured_ca_issued_pair_is_used_instead_of_a_self_signed_one(data_dir, sample_pdf, ca_pair):
    signed = _sign(sample_pdf, data_dir, settings=ca_pair, field_box=STAMP_BOX)
    assert not (data_dir / "keys").exists()  # no self-signed pair was made

    check = validate_pdf(signed, data_dir=data_dir, settings=ca_pair)
    assert check.ok, check.problem
    assert check.signer == "示例花园物业服务中心"

    # The office's own self-signed identity does not vouch for the CA-issued signature.
    assert not validate_pdf(signed, data_dir=data_dir).trusted


def test_the_configured_pair_comes_from_the_app_config_in_an_app_context(tmp_path, sample_pdf, ca_pair):
    app = flask.Flask(__name__)
    app.config.update(ARREARS_DATA_DIR=str(tmp_path / "data"), **ca_pair)
    with app.app_context():
        signed = signing.sign_issued_pdf(sample_pdf, reason="收据", location="示例花园")
        check = signing.validate_issued_pdf(signed)
    assert check.ok and check.signer == "示例花园物业服务中心"
    assert not (tmp_path / "data" / "keys").exists()


@pytest.mark.parametrize("broken", ["wrong-password", "cert-of-another-key", "half-configured"])
def test_a_broken_configured_pair_is_refused(data_dir, sample_pdf, ca_pair, tmp_path, broken):
    settings = dict(ca_pair)
    if broken == "wrong-password":
        settings["ARREARS_SIGNING_KEY_PASSWORD"] = "guess"
    elif broken == "cert-of-another-key":
        key_path, _ = ensure_signing_keys(tmp_path / "other")
        settings["ARREARS_SIGNING_KEY"] = str(key_path)
        settings["ARREARS_SIGNING_KEY_PASSWORD"] = ""
    else:
        del settings["ARREARS_SIGNING_CERT"]
    with pytest.raises(SigningError):
        _sign(sample_pdf, data_dir, settings=settings)


def test_signing_and_checking_work_inside_a_running_event_loop(data_dir, sample_pdf):
    """pyHanko calls asyncio.run: with a loop already running in this thread (an async
    server, or Playwright's sync API earlier in the same test run) it must still work."""
    import asyncio

    async def inside_a_loop():
        signed = _sign(sample_pdf, data_dir)
        return signing.validate_pdf(signed, data_dir=data_dir)

    # A thread of the test's own, so that the loop is ours whatever else this process runs.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=1) as pool:
        check = pool.submit(asyncio.run, inside_a_loop()).result()
    assert check.signed and check.intact and check.valid and check.trusted, check.problem
