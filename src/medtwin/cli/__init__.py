"""The ``medtwin`` command line (typer + rich)."""
