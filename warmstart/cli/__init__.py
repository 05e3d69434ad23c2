"""The ``warmstart`` command line: one module per command, registered in :mod:`warmstart.cli.main`."""
