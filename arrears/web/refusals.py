"""A service's refusal in the user's language.

Services raise ``ServiceError`` with an English msgid and its values
(``arrears/services/errors.py``); ``str(error)`` is the English sentence the command line
prints. A screen shows ``refusal(error)`` instead: the msgid translated by the catalog,
then filled with the values (dates as the screen writes them). Where a view has its own
message for a refusal's ``code`` it keeps using it; ``refusal`` is for everything else.
"""
from datetime import date, datetime

from flask_babel import gettext

from ..services.errors import ServiceError
from .formats import ldate


def _shown(value):
    if isinstance(value, date) and not isinstance(value, datetime):
        return ldate(value)
    return value


def refusal(error, **labels):
    """The message of ``error`` (a ``ServiceError``) in the user's language; any other
    exception as its text. ``labels``: ``{param: {code: label}}`` to show a value that is a
    code (``stage="legal"``) by its label on the screen (``refusal(error, stage=STAGE_LABELS)``)."""
    if not isinstance(error, ServiceError) or not isinstance(error.message, str) or not error.message:
        return str(error)
    params = {}
    for name, value in (error.params or {}).items():
        names = labels.get(name) or {}
        params[name] = str(names[value]) if isinstance(value, str) and value in names else _shown(value)
    if not params:
        return gettext(error.message)
    return gettext(error.message, **params)
