"""One module per ``jumpkiosk`` subcommand; see :mod:`kiosk.cli`."""
