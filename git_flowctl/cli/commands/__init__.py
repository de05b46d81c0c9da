"""One module per area of the command surface; see ``git_flowctl.cli.COMMANDS``."""
