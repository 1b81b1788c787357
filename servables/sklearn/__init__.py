"""scikit-learn models (``model_platform: "sklearn"``), loaded with joblib; see ``sklearn_model``."""
