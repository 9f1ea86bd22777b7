"""Load benches: whole backfills through the Dagster UI's GraphQL API, embedded and on a cluster."""
