"""The local runner: one pipeline run with its run log, lock and crash recovery."""
