"""Experiments on a materialized home: ablations and seed spreads of the customized models."""
