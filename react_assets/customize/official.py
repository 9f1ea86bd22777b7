"""Checkpoints in the official REACT layout, in and out.

The official code (an open_clip fork) saves ``{"state_dict": model.state_dict(), ...}`` with
``torch.save``; under DDP the keys carry a ``module.`` prefix. Its gated-image keys are
``visual.transformer.resblocks.{i}.gated_attn_block.{ln_1, attn, ln_2, mlp.c_fc, mlp.c_proj,
alpha_attn, alpha_dense}`` on the last blocks of the image tower; a locked-text model's own
tensors are the whole image tower (``visual.*``). Our gated blocks keep exactly these keys, so:

- :func:`import_official_checkpoint` reads such a file (``.pt``/``.bin``/``.pth`` or
  ``.safetensors``; a full model state dict, or only the customization's tensors), checks every
  key strictly against a customization of the base model (an error lists the missing and the
  unexpected keys; in a full state dict every base tensor must equal the base's), saves it as a
  customization of ours and registers it in ``models`` with its lineage marked imported: it has
  no retrieval set, and ``config.source`` names the file and its sha256. ``zeroshot_eval``
  evaluates it like a model of ours (the domain's newest model of each kind).
- :func:`export_official_checkpoint` writes a customization of ours in that layout.

Command line (a one-off, file-path-driven action, so it is a documented CLI rather than an asset:
it needs no partition, and runs from a shell or a notebook against any ``REACT_HOME``)::

    python -m react_assets.customize.official import CHECKPOINT --home REACT_HOME \
        --domain fashion --variant gated-image
    python -m react_assets.customize.official export MODEL_FOLDER OUT.pt [--only-customization]
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from react_assets.customize.gated import CustomizationConfig, customize_model, trainable_state_dict
from react_assets.customize.saved import load_customized_model, save_customization
from react_assets.domains.registry import current_spec_digest
from react_assets.files.atomic import atomic_path
from react_assets.files.hashing import file_sha256
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store
from react_assets.metadata.sql import upsert_model
from react_assets.models.base import BaseModelRecord, stored_base_config
from react_assets.models.factory import create_base_model

log = logging.getLogger(__name__)

GATED_KEY = ".gated_attn_block."
IMAGE_BLOCK_PREFIX = "visual.transformer.resblocks."


def read_official_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of an official checkpoint: ``state_dict`` unwrapped, ``module.`` stripped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors (nor a checkpoint holding one)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _gated_config(path: Path, state: dict[str, torch.Tensor], n_blocks: int,
                  train_logit_scale: bool) -> CustomizationConfig:
    """The gated-image config a state dict implies: its gated blocks must be the last ``k``."""
    indices = sorted({int(k[len(IMAGE_BLOCK_PREFIX):].split(".")[0])
                      for k in state if k.startswith(IMAGE_BLOCK_PREFIX) and GATED_KEY in k})
    if not indices:
        raise ValueError(f"{path}: no '{IMAGE_BLOCK_PREFIX}{{i}}{GATED_KEY}*' key: not a "
                         "gated-image checkpoint")
    k = len(indices)
    if indices != list(range(n_blocks - k, n_blocks)):
        raise ValueError(f"{path}: gated blocks on image blocks {indices}; a customization puts "
                         f"them on the last {k} of the base's {n_blocks} blocks")
    return CustomizationConfig(variant="gated-image", num_gated_blocks=k,
                               train_logit_scale=train_logit_scale)


def _check_keys(path: Path, given: dict[str, torch.Tensor], model: nn.Module,
                expected: set[str]) -> dict[str, torch.Tensor]:
    """The customization's tensors of ``given``, every key accounted for, or a ValueError."""
    full = model.state_dict()
    is_full = set(given) - expected and set(given) <= set(full)
    unexpected = sorted(set(given) - (set(full) if is_full else expected))
    missing = sorted(expected - set(given))
    if missing or unexpected:
        raise ValueError(f"{path} does not fit this customization of the base model: "
                         f"missing keys {missing}; unexpected keys {unexpected}")
    changed = sorted(k for k in set(given) - expected
                     if given[k].shape != full[k].shape or not torch.equal(given[k], full[k]))
    if changed:
        raise ValueError(f"{path}: tensors outside the customization differ from the base "
                         f"model's (another base?): {changed[:10]} ({len(changed)} in all)")
    for key in expected:
        if given[key].shape != full[key].shape:
            raise ValueError(f"{path}: {key} has shape {tuple(given[key].shape)}, the base's "
                             f"architecture needs {tuple(full[key].shape)}")
    return {k: given[k] for k in expected}


@dataclass(frozen=True)
class ImportedModel:
    """An official checkpoint registered as a customization of ours."""

    model_id: str
    folder: Path
    customization: CustomizationConfig
    source_sha256: str


def import_official_checkpoint(
    store: Store, paths: ReactPaths, base: BaseModelRecord, checkpoint: Path, *, domain: str,
    variant: str = "gated-image", dagster_run_id: str | None = None,
) -> ImportedModel:
    """Register ``checkpoint`` (official layout) as the domain's ``variant`` customization of
    ``base``; its lineage is marked imported (no retrieval set), made for the domain's current
    spec version (none when the domain is not registered)."""
    checkpoint = Path(checkpoint)
    given = read_official_state_dict(checkpoint)
    bundle = create_base_model(base.config)
    base_scale = bundle.model.logit_scale.detach().clone()
    trains_scale = "logit_scale" in given and not torch.equal(given["logit_scale"], base_scale)
    if variant == "gated-image":
        n_blocks = len(bundle.model.visual.transformer.resblocks)
        config = _gated_config(checkpoint, given, n_blocks, trains_scale)
    elif variant == "locked-text":
        config = CustomizationConfig(variant="locked-text", train_logit_scale=trains_scale)
    else:
        raise ValueError(f"variant {variant!r}: official checkpoints are gated-image or "
                         "locked-text")
    model = customize_model(bundle.model, config)
    own = _check_keys(checkpoint, given, model,
                      set(trainable_state_dict(model, config)))
    model.load_state_dict(own, strict=False)
    sha = file_sha256(checkpoint)
    folder = paths.customization(base.model_id, domain, f"{variant}-imported-{sha[:12]}") / "model"
    model_id = save_customization(model, config, base.config, folder,
                                  name=f"react-{domain}-{variant}-imported")
    source = {"path": str(checkpoint), "sha256": sha, "layout": "official"}  # provenance only
    stored = stored_base_config(base.config, store.home)  # paths in the home: relative
    spec_digest = current_spec_digest(store, domain)
    store.execute(upsert_model, {
        "model_id": model_id, "parent_model_id": base.model_id, "kind": variant,
        "domain": domain, "arch": stored.arch, "pretrained": stored.pretrained,
        "checkpoint": store.home.relative(folder), "retrieval_digest": None,
        "metadata_snapshot": None,
        "config": json.dumps({"origin": "imported", "source": source,
                              "customization": asdict(config)}),
        "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": dagster_run_id,
        "spec_digest": spec_digest,
    })
    log.info("imported %s as %s (%s of %s)", checkpoint, model_id, variant, base.model_id)
    return ImportedModel(model_id, folder, config, sha)


def export_official_checkpoint(folder: Path, out: Path, *, full: bool = True) -> Path:
    """Write the saved customization in ``folder`` as an official checkpoint at ``out``:
    ``{"name", "state_dict"}`` with the whole model's state dict (``full``), or only the
    customization's tensors (gated blocks, or the image tower; ``logit_scale`` when trained)."""
    bundle = load_customized_model(folder)
    meta = json.loads((Path(folder) / "customization.json").read_text(encoding="utf-8"))
    config = CustomizationConfig(**meta["customization"])
    state = bundle.model.state_dict() if full else trainable_state_dict(bundle.model, config)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(Path(out)) as tmp:
        torch.save({"name": bundle.model_id, "state_dict": state}, tmp)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    import argparse

    from react_assets.models.base import current_base

    parser = argparse.ArgumentParser(prog="python -m react_assets.customize.official",
                                     description="Official REACT checkpoints in and out.")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="register an official checkpoint as a customization")
    imp.add_argument("checkpoint", type=Path)
    imp.add_argument("--home", type=Path, required=True, help="the REACT_HOME to register in")
    imp.add_argument("--domain", required=True)
    imp.add_argument("--variant", default="gated-image", choices=["gated-image", "locked-text"])
    exp = sub.add_parser("export", help="write a saved customization in the official layout")
    exp.add_argument("folder", type=Path, help="a saved customization (its model/ folder)")
    exp.add_argument("out", type=Path)
    exp.add_argument("--only-customization", action="store_true",
                     help="only the customization's tensors, not the whole model's state dict")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "import":
        paths = ReactPaths(args.home)
        store = open_store(paths.root)
        store.apply_schema()
        done = import_official_checkpoint(store, paths, current_base(store), args.checkpoint,
                                          domain=args.domain, variant=args.variant)
        sys.stdout.write(json.dumps({"model_id": done.model_id, "folder": str(done.folder)}) + "\n")
    else:
        out = export_official_checkpoint(args.folder, args.out, full=not args.only_customization)
        sys.stdout.write(json.dumps({"checkpoint": str(out)}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
