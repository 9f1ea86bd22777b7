"""Shared model infrastructure: the base-model factory, the demo mini-CLIP architecture and the
registered base model. Import from the submodules (``factory``, ``mini_clip``, ``base``)."""
