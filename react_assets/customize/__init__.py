"""Stage 5, customization: gated blocks added to the frozen CLIP and trained on the retrieved pairs
(with the optimizer, the data feed, saving and the demo base's pre-training).

Import from the submodules; this file imports nothing.
"""
