"""The district relay: the hub's outbox delivered upstream, device keys registered there, the lists pulled down."""
