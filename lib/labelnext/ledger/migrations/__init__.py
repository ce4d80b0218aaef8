"""Alembic migrations of the ledger, applied by :class:`labelnext.ledger.Ledger` at start."""
