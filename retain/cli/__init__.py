"""The entrance: the ``retain`` command line, one module per command group; nothing imports it.

``retain.cli.app`` builds the typer app and registers every group.
"""
