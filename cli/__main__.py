"""``python -m cli``: the ``gridpass`` command with this interpreter (how the demo starts its children)."""

from cli.main import main

main()
