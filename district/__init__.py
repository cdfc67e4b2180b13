"""The district center's side: key files, pass issuing, trust lists and revocation ledgers.

These are the tools the demo and the tests use to make real signed data, and the peer an external checker would
play. They read and write files; the formats themselves are in ``protocol/``.
"""
