"""The domain core: money, late fees, allocation, limitation and evidence hashing.

Plain Python only. Nothing in this package imports Flask or SQLAlchemy, and
nothing reads the clock: today's date is always an ``as_of`` argument.
"""
