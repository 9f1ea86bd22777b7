"""The target domains: spec files parsed and registered, their evaluation datasets read, and the
settings a domain asks of retrieval and customization. Used by every stage from retrieval on.

Import from the submodules; this file imports nothing.
"""
