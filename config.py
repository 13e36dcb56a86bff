"""Settings, read from the environment (SPEC §10).

- ``DATABASE_URL``: SQLAlchemy URL; default a SQLite file in the instance folder.
  ``postgresql://`` and ``postgres://`` URLs are driven by psycopg 3.
- ``SECRET_KEY``: signs sessions; a development key when unset.
- ``ARREARS_DATA_DIR``: issued PDFs, proof files, signing and encryption keys;
  default: the instance folder.
- ``ARREARS_TIMEZONE``: the estates' local time zone (default Asia/Shanghai).
- Late-fee policy defaults for a new estate (SPEC §3): ``ARREARS_DAILY_RATE``
  (0.001), ``ARREARS_GRACE_DAYS`` (0), ``ARREARS_CAP_RATIO`` (1.0; empty = no cap),
  ``ARREARS_ALLOCATION`` (principal_first), ``ARREARS_LIMITATION_YEARS`` (3).
- Contact policy (SPEC §5): no contact from ``ARREARS_CONTACT_QUIET_FROM`` ("21:00") until
  ``ARREARS_CONTACT_QUIET_UNTIL`` ("08:00"), local time, 24-hour ``HH:MM`` (the quiet hours
  may run over midnight); at most ``ARREARS_CONTACT_MAX_PER_7_DAYS`` (3) attempts per
  household in any 7 days. A contact outside these needs a written justification.
- Notices (SPEC §6): ``ARREARS_PUBLIC_URL`` (where residents reach ``/verify/<serial>``;
  printed as the slip's QR code), ``ARREARS_DEMAND_DEADLINE_DAYS`` (15),
  ``ARREARS_MAX_UPLOAD_BYTES`` (10 MB per proof file), ``ARREARS_JOBS_URL`` (a
  ``redis://`` URL for the batch-job queue; default a SQLite file in the data folder),
  ``ARREARS_WORKERS`` (processes a batch uses; default one per core).
- Staff performance (issue 7): ``ARREARS_RECOVERY_WINDOW_DAYS`` (30): a payment is
  credited to the last contact with the household at most this many days before it.
"""
import os


def database_url(raw):
    """Normalise a DATABASE_URL so that PostgreSQL uses the psycopg 3 driver."""
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://"):]
    if raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw[len("postgresql://"):]
    return raw


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ["DATABASE_URL"]) if os.environ.get("DATABASE_URL") else None
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    ARREARS_DATA_DIR = os.environ.get("ARREARS_DATA_DIR")
    ARREARS_TIMEZONE = os.environ.get("ARREARS_TIMEZONE", "Asia/Shanghai")
    ARREARS_DAILY_RATE = os.environ.get("ARREARS_DAILY_RATE", "0.001")
    ARREARS_GRACE_DAYS = int(os.environ.get("ARREARS_GRACE_DAYS", "0"))
    ARREARS_CAP_RATIO = os.environ.get("ARREARS_CAP_RATIO", "1.0")
    ARREARS_ALLOCATION = os.environ.get("ARREARS_ALLOCATION", "principal_first")
    ARREARS_LIMITATION_YEARS = int(os.environ.get("ARREARS_LIMITATION_YEARS", "3"))
    ARREARS_CONTACT_QUIET_FROM = os.environ.get("ARREARS_CONTACT_QUIET_FROM", "21:00")
    ARREARS_CONTACT_QUIET_UNTIL = os.environ.get("ARREARS_CONTACT_QUIET_UNTIL", "08:00")
    ARREARS_CONTACT_MAX_PER_7_DAYS = int(os.environ.get("ARREARS_CONTACT_MAX_PER_7_DAYS", "3"))

    # Relief (issue 5): days an instalment may be late before the plan breaks.
    ARREARS_PLAN_TOLERANCE_DAYS = int(os.environ.get("ARREARS_PLAN_TOLERANCE_DAYS", "7"))

    # Staff performance (issue 7): days a contact may precede a payment credited to it.
    ARREARS_RECOVERY_WINDOW_DAYS = int(os.environ.get("ARREARS_RECOVERY_WINDOW_DAYS", "30"))

    # Notices, receipts and delivery (issue 4).
    # The address residents reach the verification page at (printed as a QR code).
    ARREARS_PUBLIC_URL = os.environ.get("ARREARS_PUBLIC_URL", "http://127.0.0.1:5000")
    # The name in the office's signing certificate when the program makes one (default:
    # the office name of the estate whose document is signed first).
    ARREARS_OFFICE_NAME = os.environ.get("ARREARS_OFFICE_NAME", "")
    ARREARS_DEMAND_DEADLINE_DAYS = int(os.environ.get("ARREARS_DEMAND_DEADLINE_DAYS", "15"))
    ARREARS_MAX_UPLOAD_BYTES = int(os.environ.get("ARREARS_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
    # Background jobs (batch printing): a Redis URL for larger offices; default a SQLite
    # file in ARREARS_DATA_DIR.
    ARREARS_JOBS_URL = os.environ.get("ARREARS_JOBS_URL", "")
    ARREARS_WORKERS = int(os.environ.get("ARREARS_WORKERS", "0"))  # 0: one per core
    # The public verification page: requests per address per 10 minutes.
    VERIFY_MAX_REQUESTS = int(os.environ.get("ARREARS_VERIFY_MAX_REQUESTS", "30"))
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024

    # The web application (issue 3).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure cookies outside development: ARREARS_DEVELOPMENT=1 (make run) serves plain http.
    SESSION_COOKIE_SECURE = os.environ.get("ARREARS_DEVELOPMENT", "") != "1"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the login
    BOOTSTRAP_SERVE_LOCAL = True
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("ARREARS_TIMEZONE", "Asia/Shanghai")
    LANGUAGES = ("zh_CN", "en")
    # A serving process builds the day's figures in the background at its first request and
    # after each local midnight (arrears/web/warm.py); 0 turns it off.
    ARREARS_WARM_FIGURES = os.environ.get("ARREARS_WARM_FIGURES", "1") != "0"
    # Logins: after this many failures for one name or address within the window, HTTP 429.
    LOGIN_MAX_FAILURES = 10
    LOGIN_WINDOW_MINUTES = 15
