"""Services: one function per business act (``post_payment``, ``bill_period`` …).

Each opens the transaction, calls the domain core, writes the rows and the evidence
event, and commits or rolls back as a whole.
"""
