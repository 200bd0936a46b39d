"""The command line: resgen's commands (``commands``), ``resgen train`` (``train_command``)
and what both share (``support``). ``main`` is re-exported here for the console scripts
installed before these modules had folders.
"""

from resgen.cli.commands import main as main
