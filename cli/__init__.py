"""The ``gridpass`` command line: thin wrappers that read files and arguments, call the packages, print results."""
