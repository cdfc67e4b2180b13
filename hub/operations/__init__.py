"""The hub's operations: plain functions that the HTTP API, the dashboard and ``gridpass hub ...`` all call.

One module per resource (``fleet``, ``commands``, ``users``, ``auth``, ``audit``, ``lists``, ``stats``). Each takes
the engine, the acting operator (``Actor``) where it changes something, and ``now``; each change writes its audit
row in the same transaction, and a refused change writes a ``refused`` audit row of its own. Errors are
``hub.operations.errors.OperationError`` subclasses, which the API turns into problem JSON and the CLI into a message
and an exit code.
"""
