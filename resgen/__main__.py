"""``python -m resgen`` runs the command line."""

from resgen.cli.commands import main

main()
