"""Servables: what the server loads and runs (TensorFlow models and their edges)."""
