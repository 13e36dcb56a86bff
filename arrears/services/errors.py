"""Errors the services raise.

A refusal carries its English message as a msgid with ``%(name)s`` placeholders
(``message``) and the values that fill them (``params``): ``str(error)`` is the English
sentence (the command line prints it), and the web layer shows it in the user's language
(``arrears.web.refusals.refusal``: the msgid is translated, then filled). The message is
therefore always a literal, never an f-string: the catalog extracts it from the raise
site (``arrears/translations/build.py`` lists the exception names as keywords; ``N_``
marks the literals a subclass passes on).
"""
from ..domain.errors import DomainError


def N_(message):
    """Mark ``message`` as a msgid to extract, without translating it here."""
    return message


class ServiceError(DomainError):
    """An act was refused; the message says what and where."""

    def __init__(self, message="", **params):
        self.message = message
        self.params = params
        super().__init__(message % params if params else message)


class NotFound(ServiceError):
    pass


class DuplicatePayment(ServiceError):
    """A payment with this reference is already posted for the estate."""

    def __init__(self, reference, existing_id):
        super().__init__(N_("payment reference %(reference)s is already posted (payment #%(id)s); not posted again"),
                         reference=reference, id=existing_id)
        self.reference = reference
        self.existing_id = existing_id


class ImportRejected(ServiceError):
    """An import had bad rows; ``errors`` holds every ``line N: reason`` (in English: the
    command line is the only place that shows them)."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = errors
