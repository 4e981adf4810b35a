"""Export a run directory for other tools: flat tables (CSV or Parquet) for pandas users, and
MLflow runs for teams that keep their experiments there. Read from the run directory only, like
the report; nothing here imports TensorFlow, and MLflow only when asked for (an optional extra)."""
