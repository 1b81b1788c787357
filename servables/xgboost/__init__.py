"""XGBoost models (``model_platform: "xgboost"``), through ``xgboost.Booster``; see ``xgboost_model``."""
