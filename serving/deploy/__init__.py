"""Deployment files for the real TensorFlow Serving (see README.md here)."""
