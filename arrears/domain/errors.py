"""Named domain errors. The web layer and the command line turn them into messages."""


class DomainError(Exception):
    """Base class: a rule of the domain refused an input or an act."""


class InvalidAmount(DomainError, ValueError):
    """An amount text is not a non-negative CNY amount with at most two decimals."""


class InvalidPolicy(DomainError, ValueError):
    """A late-fee policy setting is out of range."""


class ChainBroken(DomainError):
    """The evidence chain does not verify; ``seq`` names the first bad event."""

    def __init__(self, seq, reason):
        super().__init__(f"event {seq}: {reason}")
        self.seq = seq
        self.reason = reason
