"""Running the chain: notebook parameters, the runner, and the ``cjm`` command line."""
