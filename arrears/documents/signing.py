"""Digital signatures on issued PDFs — notices, receipts, bundle indexes (SPEC §6, §8).

Invariants:

- One signing identity per data directory. Unless a CA-issued pair is configured
  (``ARREARS_SIGNING_KEY`` / ``ARREARS_SIGNING_CERT``, optional ``ARREARS_SIGNING_CHAIN``
  and ``ARREARS_SIGNING_KEY_PASSWORD``), it is ``<data_dir>/keys/signing-key.pem`` and
  ``signing-cert.pem``: an ECDSA P-256 key and a self-signed certificate valid ten
  years, made on first use and never overwritten afterwards.
- Key files are born complete and private: written to a temporary file opened with
  ``O_EXCL`` and mode 0600, then ``os.replace``-d into place, all under an exclusive
  ``flock`` on ``keys/.signing.lock``, so two processes starting at once end up with
  one pair, never a key from one and a certificate from the other.
- A configured pair is used in place; nothing of it is copied into the data
  directory. A certificate that does not belong to its key is refused (``SigningError``).
- ``sign_pdf`` only appends: its output is the input followed by one incremental
  update holding a PAdES (``ETSI.CAdES.detached``, SHA-256) signature whose byte range
  covers the whole output file.
- ``validate_pdf`` never raises. Anything it cannot read or check is reported in the
  returned ``SignatureCheck`` (``signed=False`` for input with no readable signature)
  with a short English ``problem``.
- Trust is local: the office certificate and the configured chain are the only trust
  roots; nothing is fetched from the network and missing revocation data is not an
  error (``soft-fail``): the default certificate is self-signed and has none.
- The signer is loaded once per process and loaded again only when the key or
  certificate files change (their mtimes are part of the cache key); the stamp font is
  built once per set of characters in the stamp's wording (on disk, shared by
  processes) and its factory kept per process. Signing then costs milliseconds.

Settings (a mapping such as ``app.config``; ``settings=None`` means the current Flask
app's config when there is an app context, else defaults): the four
``ARREARS_SIGNING_*`` keys above, ``ARREARS_OFFICE_NAME`` (the self-signed
certificate's CN, default ``Arrears 物业服务中心``), ``ARREARS_TIMEZONE`` (the stamp's
clock, default Asia/Shanghai) and ``ARREARS_STAMP_FONT`` (a CJK TTF/OTF/TTC for the
visible stamp; default Noto Sans CJK SC from the system's ``NotoSansCJK-Regular.ttc``).

The stamp font: pyHanko's ``GlyphAccumulator`` reads a single OpenType font, not a TTC
collection, and subsets the font it is given on every signature — for the 65,535-glyph
Noto CJK face that is about a second. So the face is taken out of the collection with
fontTools and cut down, once, to printable ASCII plus the characters of the stamp's
wording, without layout tables (the stamp needs no shaping beyond the cmap). That
~15 KB ``.otf`` lives in ``<data_dir>/cache/fonts/``, named by a hash of the source
face and character set; pyHanko embeds a further subset of it (``/FontFile3``, CID
CFF) in each signed PDF, so the stamp shows the same on any reader. The visible stamp
needs ``uharfbuzz`` (pyHanko's ``opentype`` extra); invisible signing and checking do not.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import io
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFAULT_OFFICE_NAME = "Arrears 物业服务中心"
DEFAULT_TIMEZONE = "Asia/Shanghai"
KEY_FILENAME = "signing-key.pem"
CERT_FILENAME = "signing-cert.pem"
CERT_VALIDITY = timedelta(days=3650)
BYTES_RESERVED = 8192  # hex digits of /Contents: room for a 4 KiB CMS blob (ours is ~1 KiB)
FIELD_NAME_PREFIX = "ArrearsSignature"
STAMP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
STAMP_FONT_SIZE = 8
DEFAULT_STAMP_TEXT = "电子签章 / %(office)s\n签署时间 %(ts)s"

# (path, preferred face family) — the first that exists is the default stamp font.
CJK_FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", None),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", None),
)
# Layout tables are dropped from the cached stamp font: parsing GSUB/GPOS of a CJK face
# is most of pyHanko's per-signature cost and a horizontal stamp does not need them.
_STAMP_FONT_DROPPED_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "VORG", "vhea", "vmtx")
_ASCII_PRINTABLE = frozenset(chr(code) for code in range(0x20, 0x7F))


class SigningError(Exception):
    """The signing key material or stamp font is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class SigningMaterial:
    """Where the signing identity lives. ``configured`` is False for the self-made pair."""
    key_path: Path
    cert_path: Path
    chain_paths: tuple[Path, ...]
    key_password: bytes | None
    configured: bool


@dataclass(frozen=True)
class SignatureCheck:
    """What ``validate_pdf`` found. A document is good only when all five flags hold."""
    signed: bool
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    signer: str | None = None
    signed_at: datetime | None = None
    problem: str | None = None

    @property
    def ok(self):
        return self.signed and self.intact and self.valid and self.trusted and self.covers_whole_file


# -- settings -----------------------------------------------------------------------------------

def _settings(settings):
    if settings is not None:
        return settings
    from flask import current_app, has_app_context
    return current_app.config if has_app_context() else {}


def _chain_paths(value):
    if not value:
        return ()
    if isinstance(value, (str, os.PathLike)):
        value = str(value).split(os.pathsep)
    return tuple(Path(p) for p in value if str(p))


def _password(value):
    if value in (None, ""):
        return None
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def signing_material(data_dir, settings=None) -> SigningMaterial:
    """The key material to sign with: the configured pair when ``ARREARS_SIGNING_KEY`` and
    ``ARREARS_SIGNING_CERT`` are set, else the data directory's own pair (made now if
    absent). Raises ``SigningError`` when only one of the two is configured, or when a
    configured file does not exist."""
    settings = _settings(settings)
    key_setting = settings.get("ARREARS_SIGNING_KEY")
    cert_setting = settings.get("ARREARS_SIGNING_CERT")
    if key_setting or cert_setting:
        if not (key_setting and cert_setting):
            raise SigningError("ARREARS_SIGNING_KEY and ARREARS_SIGNING_CERT must be set together")
        material = SigningMaterial(
            key_path=Path(key_setting), cert_path=Path(cert_setting),
            chain_paths=_chain_paths(settings.get("ARREARS_SIGNING_CHAIN")),
            key_password=_password(settings.get("ARREARS_SIGNING_KEY_PASSWORD")), configured=True)
        for path in (material.key_path, material.cert_path, *material.chain_paths):
            if not path.is_file():
                raise SigningError(f"configured signing file {path} does not exist")
        return material
    key_path, cert_path = ensure_signing_keys(
        data_dir, office_name=settings.get("ARREARS_OFFICE_NAME") or DEFAULT_OFFICE_NAME)
    return SigningMaterial(key_path=key_path, cert_path=cert_path, chain_paths=(),
                           key_password=None, configured=False)


# -- the self-made key pair ---------------------------------------------------------------------

def keys_dir(data_dir) -> Path:
    return Path(data_dir) / "keys"


def ensure_signing_keys(data_dir, *, office_name=DEFAULT_OFFICE_NAME) -> tuple[Path, Path]:
    """The paths of ``keys/signing-key.pem`` and ``keys/signing-cert.pem`` under
    ``data_dir``, making an ECDSA P-256 key and a self-signed certificate for
    ``office_name`` first when there are none. Existing files are never replaced; a key
    left without its certificate (a crash between the two writes) gets one. Raises
    ``SigningError`` for a certificate without its key."""
    directory = keys_dir(data_dir)
    key_path, cert_path = directory / KEY_FILENAME, directory / CERT_FILENAME
    if key_path.is_file() and cert_path.is_file():
        return key_path, cert_path
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / ".signing.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # Another process may have made the pair while we waited for the lock.
            if not key_path.exists():
                if cert_path.exists():
                    raise SigningError(f"{cert_path} exists but its key {key_path} does not")
                key = ec.generate_private_key(ec.SECP256R1())
                _write_private_file(key_path, key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
            if not cert_path.exists():
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                certificate = _self_signed_certificate(key, office_name)
                _write_private_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return key_path, cert_path


def _write_private_file(path: Path, data: bytes):
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _self_signed_certificate(key, office_name):
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, office_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Arrears"),
    ])
    # An hour back, so that a reader whose clock is a little behind still sees it valid.
    not_before = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_before + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


# -- the signer, cached -------------------------------------------------------------------------

_signer_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def _material_cache_key(data_dir, material: SigningMaterial):
    paths = (material.key_path, material.cert_path, *material.chain_paths)
    stamps = tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in paths)
    password = hashlib.sha256(material.key_password).hexdigest() if material.key_password else None
    return (str(Path(data_dir).resolve()), stamps, password)


def _load_signer(material: SigningMaterial):
    """Read the key, certificate and chain into a pyHanko ``SimpleSigner``. Raises
    ``SigningError`` when they cannot be read or the certificate is not the key's."""
    from pyhanko.keys import load_certs_from_pemder
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    try:
        private_key = serialization.load_pem_private_key(
            material.key_path.read_bytes(), password=material.key_password)
        certificate = x509.load_pem_x509_certificate(material.cert_path.read_bytes())
        chain = list(load_certs_from_pemder(material.chain_paths))
    except (OSError, ValueError, TypeError) as error:
        raise SigningError(f"cannot read the signing key material: {error}") from error
    if certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            private_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise SigningError(f"{material.cert_path} is not the certificate of {material.key_path}")
    registry = SimpleCertificateStore()
    registry.register_multiple(chain)
    return SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())),
        cert_registry=registry,
    )


def get_signer(data_dir, settings=None):
    """The process's ``SimpleSigner`` for this data directory and settings, loaded on
    first use and again only after the key material's files change."""
    material = signing_material(data_dir, settings)
    cache_key = _material_cache_key(data_dir, material)
    with _cache_lock:
        signer = _signer_cache.get(cache_key)
        if signer is None:
            signer = _load_signer(material)
            # One live signer per data directory: drop entries for replaced files.
            for stale in [k for k in _signer_cache if k[0] == cache_key[0]]:
                del _signer_cache[stale]
            _signer_cache[cache_key] = signer
        return signer


def clear_caches():
    """Forget cached signers and stamp fonts (tests, or after replacing key files by hand)."""
    with _cache_lock:
        _signer_cache.clear()
        _font_factories.clear()


# -- the stamp font -----------------------------------------------------------------------------

_font_factories: dict[Path, Any] = {}


def _stamp_font_source(settings):
    configured = settings.get("ARREARS_STAMP_FONT")
    if configured:
        if not Path(configured).is_file():
            raise SigningError(f"ARREARS_STAMP_FONT {configured} does not exist")
        return Path(configured), None
    for path, family in CJK_FONT_CANDIDATES:
        if Path(path).is_file():
            return Path(path), family
    raise SigningError("no CJK font for the signature stamp; set ARREARS_STAMP_FONT")


def _open_face(path: Path, family):
    from fontTools.ttLib import TTCollection, TTFont
    with open(path, "rb") as handle:
        is_collection = handle.read(4) == b"ttcf"
    if not is_collection:
        return TTFont(path)
    collection = TTCollection(path, lazy=True)
    try:
        names = [face["name"].getDebugName(1) for face in collection.fonts]
    finally:
        collection.close()
    number = names.index(family) if family in names else 0
    return TTFont(path, fontNumber=number)


def stamp_font_file(cache_dir, characters, settings=None) -> Path:
    """A small OpenType font holding printable ASCII and ``characters``, cut from the
    stamp font (see the module docstring), cached as ``<cache_dir>/stamp-<hash>.otf``.
    Characters the source font lacks are left out (they would show as blanks)."""
    from fontTools import subset
    settings = _settings(settings)
    source, family = _stamp_font_source(settings)
    wanted = sorted(_ASCII_PRINTABLE | set(characters) - {"\n", "\r", "\t"})
    fingerprint = hashlib.sha256("\0".join(
        [str(source), str(source.stat().st_mtime_ns), family or "", "".join(wanted)]
    ).encode("utf-8")).hexdigest()[:20]
    target = Path(cache_dir) / f"stamp-{fingerprint}.otf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    font = None
    try:
        font = _open_face(source, family)
        options = subset.Options()
        options.layout_features = []
        options.layout_closure = False
        options.name_IDs = ["*"]
        options.notdef_outline = True
        options.drop_tables += list(_STAMP_FONT_DROPPED_TABLES)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(c) for c in wanted])
        subsetter.subset(font)
        buffer = io.BytesIO()
        font.save(buffer)
    except Exception as error:  # fontTools raises many kinds for a bad font file
        raise SigningError(f"cannot make the stamp font from {source}: {error}") from error
    finally:
        if font is not None:
            font.close()
    # Concurrent builders write identical bytes; os.replace makes either one win whole.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, target)
    return target


def _font_factory(font_path: Path):
    with _cache_lock:
        factory = _font_factories.get(font_path)
        if factory is None:
            factory = _in_memory_factory_class()(
                font_file=str(font_path), font_size=STAMP_FONT_SIZE, font_bytes=font_path.read_bytes())
            _font_factories[font_path] = factory
        return factory


@functools.cache
def _in_memory_factory_class():
    # Imported here: pyHanko's font module needs uharfbuzz, which only the visible stamp uses.
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

    @dataclass(frozen=True)
    class InMemoryGlyphAccumulatorFactory(GlyphAccumulatorFactory):
        """pyHanko's factory, reading the font from bytes held in memory: the stock one
        opens the file for every signature and never closes it."""
        font_bytes: bytes = b""

        def create_font_engine(self, writer, obj_stream=None):
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            return GlyphAccumulator(
                writer=writer, font_handle=io.BytesIO(self.font_bytes), font_size=self.font_size,
                ot_script_tag=self.ot_script_tag, ot_language_tag=self.ot_language_tag,
                writing_direction=self.writing_direction, bcp47_lang_code=self.bcp47_lang_code,
                obj_stream=obj_stream)

    return InMemoryGlyphAccumulatorFactory


# -- signing ------------------------------------------------------------------------------------

def _subject_common_name(certificate):
    name = certificate.subject.native
    return name.get("common_name") or certificate.subject.human_friendly


def _next_field_name(writer):
    from pyhanko.sign.fields import enumerate_sig_fields
    taken = {name for name, _, _ in enumerate_sig_fields(writer.prev)}
    number = 1
    while f"{FIELD_NAME_PREFIX}{number}" in taken:
        number += 1
    return f"{FIELD_NAME_PREFIX}{number}"


def _outside_event_loop(function, *args, **kwargs):
    """Run ``function`` where pyHanko's ``asyncio.run`` can run: here, or, when this
    thread already runs an event loop (an async server, Playwright's sync API in the
    same process), in a thread of its own."""
    import asyncio
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args, **kwargs)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def sign_pdf(pdf_bytes, *, data_dir, reason, location, field_box=None, page=0, stamp_text=None,
             settings=None) -> bytes:
    """See ``_sign_pdf``; safe to call with an event loop running."""
    settings = _settings(settings)
    return _outside_event_loop(_sign_pdf, pdf_bytes, data_dir=data_dir, reason=reason, location=location,
                               field_box=field_box, page=page, stamp_text=stamp_text, settings=settings)


def _sign_pdf(pdf_bytes, *, data_dir, reason, location, field_box=None, page=0, stamp_text=None,
             settings=None) -> bytes:
    """``pdf_bytes`` with a PAdES signature (ETSI.CAdES.detached, SHA-256) appended.

    ``field_box`` — ``(x1, y1, x2, y2)`` in PDF points, origin bottom-left, on page index
    ``page`` — puts a visible stamp there, worded by ``stamp_text`` (a ``%`` template
    with ``%(ts)s`` for the signing time and ``%(office)s`` for the certificate's CN;
    default ``DEFAULT_STAMP_TEXT``), in an embedded CJK font. Without it the signature is
    invisible. Raises ``SigningError`` for unusable key material or stamp font, and
    pyHanko's errors for a PDF it cannot read or a page that does not exist."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields
    from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner

    settings = _settings(settings)
    signer = get_signer(data_dir, settings)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)
    field_name = _next_field_name(writer)
    metadata = PdfSignatureMetadata(
        field_name=field_name, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason, location=location)
    stamp_style = None
    if field_box is not None:
        fields.append_signature_field(writer, fields.SigFieldSpec(
            sig_field_name=field_name, on_page=page, box=tuple(field_box)))
        zone = ZoneInfo(settings.get("ARREARS_TIMEZONE") or DEFAULT_TIMEZONE)
        wording = (DEFAULT_STAMP_TEXT if stamp_text is None else stamp_text) % {
            "ts": datetime.now(zone).strftime(STAMP_TIME_FORMAT),
            "office": _subject_common_name(signer.signing_cert),
        }
        stamp_style = _stamp_style(data_dir, wording, settings)
    signed = PdfSigner(metadata, signer=signer, stamp_style=stamp_style).sign_pdf(
        writer, bytes_reserved=BYTES_RESERVED)
    return signed.getvalue()


def _stamp_style(data_dir, text, settings):
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle
    font_path = stamp_font_file(Path(data_dir) / "cache" / "fonts", text, settings)
    return TextStampStyle(
        stamp_text=text.replace("%", "%%"),  # already formatted; pyHanko formats it again
        text_box_style=TextBoxStyle(font=_font_factory(font_path), font_size=STAMP_FONT_SIZE),
        border_width=1,
    )


# -- validation ---------------------------------------------------------------------------------

def _unsigned(problem):
    return SignatureCheck(signed=False, intact=False, valid=False, trusted=False,
                          covers_whole_file=False, problem=problem)


def trust_roots(data_dir, settings=None):
    """The certificates a signature must chain to: the office certificate (configured or
    self-made) and the configured chain. Empty when the office has none yet; never
    makes keys."""
    from pyhanko.keys import load_certs_from_pemder
    settings = _settings(settings)
    paths = []
    if settings.get("ARREARS_SIGNING_CERT"):
        paths.append(Path(settings["ARREARS_SIGNING_CERT"]))
        paths.extend(_chain_paths(settings.get("ARREARS_SIGNING_CHAIN")))
    else:
        paths.append(keys_dir(data_dir) / CERT_FILENAME)
    return [cert for cert in load_certs_from_pemder([p for p in paths if p.is_file()])]


def validate_pdf(pdf_bytes, *, data_dir, settings=None) -> SignatureCheck:
    """Check every signature in ``pdf_bytes`` against the office's trust roots. Never
    raises: unreadable input or no signature gives ``signed=False`` with a ``problem``."""
    try:
        return _outside_event_loop(_validate, pdf_bytes, data_dir, _settings(settings))
    except Exception as error:  # the contract is a verdict, whatever the input
        return _unsigned(f"could not check the document ({type(error).__name__})")


def _validate(pdf_bytes, data_dir, settings):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    if not pdf_bytes or b"%PDF-" not in bytes(pdf_bytes[:1024]):  # where the standard allows it
        return _unsigned("not a PDF file")
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        signatures = list(reader.embedded_signatures)
    except Exception as error:  # pyHanko's reader raises several kinds on damaged files
        return _unsigned(f"not a readable PDF file ({type(error).__name__})")
    if not signatures:
        return _unsigned("the PDF has no digital signature")
    try:
        roots = trust_roots(data_dir, settings)
    except Exception:
        roots = []

    intact = valid = trusted = True
    covers_whole_file = False
    problems, signer, signed_at = [], None, None
    for embedded in signatures:
        try:
            status = validate_pdf_signature(
                embedded,
                ValidationContext(trust_roots=roots, allow_fetching=False,
                                  revocation_mode="soft-fail"),
                key_usage_settings=KeyUsageConstraints(
                    key_usage={"digital_signature", "non_repudiation"}),
            )
        except Exception as error:  # a mangled signature dictionary or CMS blob
            return SignatureCheck(signed=True, intact=False, valid=False, trusted=False,
                                  covers_whole_file=False,
                                  problem=f"the signature cannot be read ({type(error).__name__})")
        intact &= bool(status.intact)
        valid &= bool(status.valid)
        trusted &= bool(status.trusted)
        covers_whole_file |= status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        signer = _subject_common_name(status.signing_cert)
        signed_at = status.signer_reported_dt
    if not roots:
        problems.append("this office has no signing certificate to trust")
    if not intact:
        problems.append("the signed content was changed after signing")
    elif not valid:
        problems.append("the signature does not match the signed content")
    if intact and valid and not trusted and roots:
        problems.append(f"signed by a certificate this office does not trust ({signer})")
    if not covers_whole_file:
        problems.append("content was added after signing")
    return SignatureCheck(signed=True, intact=intact, valid=valid, trusted=trusted,
                          covers_whole_file=covers_whole_file, signer=signer, signed_at=signed_at,
                          problem="; ".join(problems) or None)


# -- thin wrappers for the application ----------------------------------------------------------

def _app_data_dir():
    from flask import current_app
    return current_app.config["ARREARS_DATA_DIR"]


def sign_issued_pdf(pdf_bytes, *, reason, location, field_box=None, page=0, stamp_text=None) -> bytes:
    """``sign_pdf`` with the data directory and settings of the current Flask app."""
    return sign_pdf(pdf_bytes, data_dir=_app_data_dir(), reason=reason, location=location,
                    field_box=field_box, page=page, stamp_text=stamp_text)


def validate_issued_pdf(pdf_bytes) -> SignatureCheck:
    """``validate_pdf`` against the current Flask app's office certificate."""
    return validate_pdf(pdf_bytes, data_dir=_app_data_dir())


def app_signer():
    """The current Flask app's signer (made on first use): e.g. to warm the cache at start."""
    return get_signer(_app_data_dir())
