"""One module per raw format; ``sugar_core.skeleton.io`` is the entry point that picks one."""
