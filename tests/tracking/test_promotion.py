"""Champion and challenger in a real MLflow registry and a real metadata store: a version becomes
``@champion`` only on evidence, a rollback is one command, and ``models:/react-<domain>@champion``
loads the champion's own weights."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from registry_world import RegistryHome, register_version

from react_assets.customize.gated import gated_blocks
from react_assets.customize.registered import load_registered_model, resolve_registered_model
from react_assets.domains.registry import RegisteredDomain
from react_assets.domains.spec import parse_domain_catalog
from react_assets.evaluate.evidence import measure_evidence
from react_assets.evaluate.promotion import UNCHANGED, RegisteredVersion, settle_version
from react_assets.evaluate.uncertainty import BootstrapConfig, Outcomes
from react_assets.tracking import promote
from react_assets.tracking.promote import (
    CHALLENGER,
    CHAMPION,
    TAG_ACTION,
    TAG_PREVIOUS,
    TAG_REASONS,
    alias_version,
    history,
)

RNG_SEED = 0


@pytest.fixture
def home(registry) -> RegistryHome:
    """The folder's registry home (tests/tracking/conftest.py); each test its own domain."""
    return registry


def domain(name: str) -> RegisteredDomain:
    catalog = parse_domain_catalog({"domains": [{
        "name": name, "classes": ["circle", "square"], "templates": ["a {}."],
        "datasets": [{"name": "shapes-test", "path": "eval/shapes"}]}]}, base=Path("/w"),
        source="spec")
    return RegisteredDomain(catalog.domains[0], catalog, Path("/w/spec.yaml"))


class Answers:
    """Per-image answers on one test set: the base's, and versions made better or worse."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(RNG_SEED)
        self.by_model = {"base": self.rng.random(400) < 0.5}

    def give(self, model_id: str, like: str, gained: int, lost: int) -> None:
        out = self.by_model[like].copy()
        out[self.rng.choice(np.flatnonzero(~out), gained, replace=False)] = True
        out[self.rng.choice(np.flatnonzero(self.by_model[like]), lost, replace=False)] = False
        self.by_model[model_id] = out

    def comparisons(self, champion: str | None):
        outcomes = {(m, "shapes-test", "accuracy"): Outcomes("accuracy", correct=c)
                    for m, c in self.by_model.items()}
        return measure_evidence(outcomes, "base", champion, BootstrapConfig(1000)).comparisons


def settle(home: RegistryHome, registered: RegisteredDomain, answers: Answers,
           candidate: RegisteredVersion, champion: RegisteredVersion | None):
    return settle_version(home.store, home.client, registered, f"react-{registered.spec.name}",
                          candidate, champion,
                          answers.comparisons(None if champion is None else champion.model_id))


def test_a_worse_challenger_is_not_promoted_and_the_champion_stays(home):
    registered, answers = domain("alpha"), Answers()
    v1, v2 = register_version(home, "alpha", 0.1), register_version(home, "alpha", 0.2)
    answers.give(v1.model_id, "base", 60, 0)
    assert settle(home, registered, answers, v1, None).action == promote.PROMOTED
    assert alias_version(home.client, "react-alpha", CHAMPION) == 1

    answers.give(v2.model_id, v1.model_id, 0, 30)     # better than the base, worse than v1
    outcome = settle(home, registered, answers, v2, v1)
    assert (outcome.action, outcome.champion_version, outcome.previous_champion_version) == (
        promote.HELD, 1, 1)
    assert alias_version(home.client, "react-alpha", CHAMPION) == 1
    assert alias_version(home.client, "react-alpha", CHALLENGER) == 2
    tags = home.client.get_model_version("react-alpha", "2").tags
    assert tags[TAG_ACTION] == "challenger" and tags[TAG_PREVIOUS] == "1"
    assert "shapes-test accuracy versus the champion: -7.50 points" in tags[TAG_REASONS]
    assert "significantly worse at 0.05" in tags[TAG_REASONS]
    rows = history(home.store, "alpha")
    assert [(r["version"], r["action"], r["champion_version"]) for r in rows] == [
        (2, "challenger", 1), (1, "promoted", 1)]
    assert json.loads(rows[0]["reasons"]) == [outcome.decision.reasons[0]]
    assert {f["rule"] for f in json.loads(rows[0]["figures"])} == {"gain over the base",
                                                                   "versus the champion"}

    again = settle(home, registered, answers, v2, v1)  # a re-evaluation moves nothing
    assert again.action == UNCHANGED and "each version is decided once" in again.note
    assert len(history(home.store, "alpha")) == 2


def test_a_better_challenger_is_promoted(home):
    registered, answers = domain("beta"), Answers()
    v1, v2 = register_version(home, "beta", 0.1), register_version(home, "beta", 0.2)
    answers.give(v1.model_id, "base", 30, 0)
    settle(home, registered, answers, v1, None)
    answers.give(v2.model_id, v1.model_id, 40, 0)
    outcome = settle(home, registered, answers, v2, v1)
    assert (outcome.action, outcome.champion_version, outcome.previous_champion_version) == (
        promote.PROMOTED, 2, 1)
    assert alias_version(home.client, "react-beta", CHAMPION) == 2
    assert alias_version(home.client, "react-beta", CHALLENGER) is None
    assert outcome.decision.reasons[0].startswith("every rule held (2 figures)")


def test_a_version_without_a_significant_gain_over_the_base_is_never_champion(home):
    registered, answers = domain("epsilon"), Answers()
    v1 = register_version(home, "epsilon", 0.1)
    answers.give(v1.model_id, "base", 6, 4)
    assert settle(home, registered, answers, v1, None).action == promote.HELD
    assert alias_version(home.client, "react-epsilon", CHAMPION) is None
    assert alias_version(home.client, "react-epsilon", CHALLENGER) == 1


def run_command(home: RegistryHome, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = promote.main(["--home", str(home.paths.root), *args], stdout=out)
    return code, out.getvalue()


def test_rollback_points_the_champion_at_an_earlier_version_in_mlflow_and_the_metadata(home,
                                                                                      capsys):
    registered, answers = domain("gamma"), Answers()
    v1, v2 = register_version(home, "gamma", 0.1), register_version(home, "gamma", 0.2)
    answers.give(v1.model_id, "base", 30, 0)
    settle(home, registered, answers, v1, None)
    answers.give(v2.model_id, v1.model_id, 40, 0)
    settle(home, registered, answers, v2, v1)
    assert alias_version(home.client, "react-gamma", CHAMPION) == 2

    code, out = run_command(home, "rollback", "--domain", "gamma", "--version", "1",
                            "--reason", "v2 mislabels the new shapes in production")
    assert (code, out) == (0, "react-gamma@champion: version 2 -> 1\n")
    assert alias_version(home.client, "react-gamma", CHAMPION) == 1
    tags = home.client.get_model_version("react-gamma", "1").tags
    assert (tags[TAG_ACTION], tags[TAG_PREVIOUS]) == ("rollback", "2")
    assert tags[TAG_REASONS] == "v2 mislabels the new shapes in production"
    last = history(home.store, "gamma")[0]
    assert (last["action"], last["version"], last["model_id"], last["champion_version"],
            last["previous_champion_version"]) == ("rollback", 1, v1.model_id, 1, 2)

    # the policy does not undo it: v2 was decided, a re-evaluation moves no alias
    assert settle(home, registered, answers, v2, v1).action == UNCHANGED
    assert alias_version(home.client, "react-gamma", CHAMPION) == 1

    assert run_command(home, "rollback", "--domain", "gamma", "--version", "1")[0] == 1
    assert "is @champion already" in capsys.readouterr().err
    assert run_command(home, "rollback", "--domain", "gamma", "--version", "9")[0] == 1
    assert "react-gamma has no version 9" in capsys.readouterr().err
    code, out = run_command(home, "show", "--domain", "gamma")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "react-gamma: @champion 1, @challenger None"
    assert [line.split()[2:4] for line in lines[1:]] == [
        ["v1", "rollback"], ["v2", "promoted"], ["v1", "promoted"]]


def gate_values(bundle) -> set[float]:
    return {round(float(torch.tanh(block.alpha_attn.detach())), 4)
            for block in gated_blocks(bundle.model).values()}


def test_the_champion_alias_loads_the_champions_weights(home):
    registered, answers = domain("delta"), Answers()
    v1, v2 = register_version(home, "delta", 0.3), register_version(home, "delta", 0.6)
    answers.give(v1.model_id, "base", 30, 0)
    settle(home, registered, answers, v1, None)
    answers.give(v2.model_id, v1.model_id, 40, 0)
    settle(home, registered, answers, v2, v1)

    champion = load_registered_model(home.store, home.client, "models:/react-delta@champion")
    assert champion.model_id == v2.model_id
    assert gate_values(champion) == {round(float(np.tanh(0.6)), 4)}
    assert not champion.model.training
    first = load_registered_model(home.store, home.client, "models:/react-delta/1")
    assert first.model_id == v1.model_id and gate_values(first) == {round(float(np.tanh(0.3)), 4)}

    assert run_command(home, "rollback", "--domain", "delta", "--version", "1")[0] == 0
    assert load_registered_model(home.store, home.client,
                                 "models:/react-delta@champion").model_id == v1.model_id
    with pytest.raises(LookupError, match="models:/react-delta@challenger: not in the registry"):
        resolve_registered_model(home.store, home.client, "models:/react-delta@challenger")
    with pytest.raises(ValueError, match="not a registered model URI"):
        resolve_registered_model(home.store, home.client, "runs:/abc/model")
