"""Errors the services raise; each message is fit to show to the user as it is."""
from ..domain.errors import DomainError


class ServiceError(DomainError):
    """An act was refused; the message says what and where."""


class NotFound(ServiceError):
    pass


class DuplicatePayment(ServiceError):
    """A payment with this reference is already posted for the estate."""

    def __init__(self, reference, existing_id):
        super().__init__(f"payment reference {reference} is already posted (payment #{existing_id}); not posted again")
        self.reference = reference
        self.existing_id = existing_id


class ImportRejected(ServiceError):
    """An import had bad rows; ``errors`` holds every ``line N: reason``."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = errors
