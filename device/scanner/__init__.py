"""The scan path of a terminal: frame -> code -> decision -> light and gate -> event in the store."""
