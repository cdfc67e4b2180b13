"""What the terminals, the hub and the district center share: formats, documents, topics and the decision.

Pure: nothing here reads a clock, a file, a socket, a thread or the environment. Callers pass ``now`` and bytes in.
"""
