"""Layer 1: one Keras builder per family, the registry, ``preprocessing_fn``s and the Trainer's ``run_fn``."""
