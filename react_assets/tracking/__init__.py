"""What runs record beside the metadata: MLflow lineage, its parameters, data-contract outcomes,
links to the tracking UI, and each domain's champion and challenger aliases."""
