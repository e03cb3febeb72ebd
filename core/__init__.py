"""Layer 0: the facts every other layer shares; imports nothing of the project."""
