"""What runs record beside the metadata: MLflow lineage, its parameters, data-contract outcomes."""
