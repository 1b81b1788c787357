"""LightGBM models (``model.txt``)."""
