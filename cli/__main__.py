"""``python -m strangler.cli``: the same as the ``strangler`` command."""

from strangler.cli.main import main

main()
