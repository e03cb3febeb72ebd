"""Layer 3: the pipeline definition: ``create_pipeline``, ``RunConfig``, TFMA config, schemas, Beam presets."""
