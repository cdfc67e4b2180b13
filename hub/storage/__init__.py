"""The hub's database: SQLite on one machine, PostgreSQL with several hub workers, through SQLAlchemy 2.

- ``engine``: ``create_engine(url)`` and the transaction helpers; nothing connects at import time.
- ``migrate``: ``upgrade(engine_or_url)`` applies the Alembic migrations in ``migrations/``.
- ``models``: the tables.
- ``devices``: enrolment, approval, decommissioning, the enrolled key of a device.
- ``ingest``: ``store_batch`` (exactly once, one transaction), stream progress, refusal counters.
- ``presence``: ``record_state`` and its ordering rule.
- ``relay``: the district relay's outbox.
- ``lists``: trust lists and revocation updates from the district.
- ``queries``: operators' views and the demo/drill summary counts.

Every function takes an ``Engine`` (it opens and commits its own transaction), or a ``Connection``/``Session``
(it joins the open transaction). Errors are ``hub.storage.errors.StorageError`` subclasses.
"""
