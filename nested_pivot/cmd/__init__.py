"""The ``nested-pivot`` command line: one module per command."""
