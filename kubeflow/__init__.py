"""Kubeflow Pipelines v2: compile the pipeline, the image it runs in, submit."""
