"""Development support, not part of the product: a local Dagster server (webserver + daemon) and
a GraphQL client for it, used by the UI tests, the UI benchmark and the screenshot script."""
