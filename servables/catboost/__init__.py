"""CatBoost models (``model.cbm``)."""
