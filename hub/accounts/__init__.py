"""Operator accounts, pure parts: roles, password hashing, bearer secrets, the login rate-limit rule.

The database side (users, sessions, tokens, login attempts) is in ``hub.operations.users`` and
``hub.operations.auth``; nothing here touches a database, a clock or a socket.
"""
