"""The ``tfxp`` command line; each sub-command imports its layer when it runs."""
