"""``python -m resgen`` runs the command line."""

from resgen.cli import main

main()
