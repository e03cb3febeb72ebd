"""Layer 2: custom TFX components (TFDS ExampleGen, DataGate, infra validator, atomic Pusher)."""
