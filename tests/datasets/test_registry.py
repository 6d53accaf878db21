"""The registry with real model files: the bundled model becomes version 1 with the first registration; files are
copied and checked by sha256 before use; ``process`` runs the active version (the bundled model while the registry
is empty, ``--model`` always); promotion without a frozen set needs force and a reason; shadow models are named."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import onnx
import pytest
import yaml

from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_WEIGHTS_PT, Settings, get_settings
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.datasets.registry import (
    AlreadyRegisteredError,
    PromotionRefusedError,
    Registry,
    RegistryError,
    process_model,
    shadow_model,
)
from streetwatch.datasets.registry_types import ModelRef, ModelRefError, ModelSource
from streetwatch.datasets.yolo_layout import dataset_classes
from streetwatch.store.model_files import ModelFileError, ModelSourceError
from streetwatch.store.registry import VersionNotFoundError

FLOAT_ONNX = DEFAULT_MODEL.parent / "streetwatch-v1-384x640.onnx"


def swapped_copy(path: Path) -> Path:
    """The bundled float model with person and car swapped in its class names (other bytes, other sha256)."""
    model = onnx.load(str(FLOAT_ONNX))
    for prop in model.metadata_props:
        if prop.key == "names":
            names = ast.literal_eval(prop.value)
            names[0], names[2] = names[2], names[0]
            prop.value = str(names)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return get_settings(db_url=f"sqlite:///{tmp_path / 'streetwatch.db'}", evidence_dir=tmp_path / "evidence",
                        models_dir=tmp_path / "models")


def test_an_empty_registry_runs_the_bundled_model(settings: Settings) -> None:
    with Registry(settings) as registry:
        assert registry.versions() == [] and registry.active() is None
        with pytest.raises(RegistryError, match="the registry is empty"):
            registry.resolve(ModelRef.of("active"))
        with pytest.raises(VersionNotFoundError, match="the registry is empty"):
            registry.promote(ModelRef.of("2"), actor="supervisor")
        with pytest.raises(RegistryError, match="nothing to roll back to"):
            registry.rollback(None, actor="supervisor")
        assert registry.versions() == []   # nothing registered as a side effect
    chosen = process_model(settings)
    assert (chosen.path, chosen.label, chosen.version) == (DEFAULT_MODEL, DEFAULT_MODEL.stem, None)


def test_the_first_registration_makes_the_bundled_model_version_1(settings: Settings, tmp_path: Path) -> None:
    weights = swapped_copy(tmp_path / "swapped.onnx")
    with Registry(settings) as registry:
        info = registry.register(ModelSource(weights=weights, name="swapped", parent_version=1, note="a test"),
                                 actor="li.wei")
        bundled = registry.version(1)
        assert [v.version for v in registry.versions()] == [1, 2]
    assert (info.version, info.label, info.parent_version, info.active, info.metrics) == (2, "swapped@v2", 1, False,
                                                                                           None)
    assert (bundled.name, bundled.created_by, bundled.active, bundled.runtime_file) == (
        "streetwatch-v1", "system", True, DEFAULT_MODEL.name)
    assert bundled.weights.sha256 == hashlib.sha256(DEFAULT_WEIGHTS_PT.read_bytes()).hexdigest()
    assert {e.file for e in bundled.exports} == {FLOAT_ONNX.name, DEFAULT_MODEL.name}
    assert "streetwatch train" in (bundled.train_command or "") and bundled.training["wall_time"].startswith("5756 s")
    for version in (bundled, info):
        for name, digest in version.file_hashes.items():
            assert hashlib.sha256((version.folder / name).read_bytes()).hexdigest() == digest
    card = yaml.safe_load((info.folder / "model.yaml").read_text())
    assert card["label"] == "swapped@v2" and card["classes"][0] == "car" and card["classes"][2] == "person"

    chosen = process_model(settings)
    assert (chosen.label, chosen.version, chosen.path) == ("streetwatch-v1@v1", 1, bundled.runtime_path)
    # dataset export's class order comes from the card in the active version's folder: the bundled model's order
    taxonomy = load_taxonomy(settings.taxonomy_path)
    from_registry = dataset_classes(taxonomy, chosen.path)
    assert from_registry.names == dataset_classes(taxonomy, DEFAULT_MODEL).names and "streetwatch-v1" in \
        from_registry.order
    explicit = process_model(get_settings(db_url=settings.db_url, models_dir=settings.models_dir,
                                          model_path=weights))
    assert (explicit.path, explicit.label) == (weights, "swapped")   # --model wins over the registry


def test_registered_weights_are_not_registered_again(settings: Settings, tmp_path: Path) -> None:
    weights = swapped_copy(tmp_path / "swapped.onnx")
    with Registry(settings) as registry:
        registry.register(ModelSource(weights=weights, name="swapped"), actor="li.wei")
        with pytest.raises(AlreadyRegisteredError, match="as version 2"):
            registry.register(ModelSource(weights=weights, name="again"), actor="li.wei")
        with pytest.raises(AlreadyRegisteredError, match="as version 1"):   # the bundled model's own export
            registry.register(ModelSource(weights=FLOAT_ONNX, name="bundled-again"), actor="li.wei")
        with pytest.raises(ModelSourceError, match="model name"):
            registry.register(ModelSource(weights=weights, name="no spaces"), actor="li.wei")
        with pytest.raises(ModelSourceError, match="not found"):
            registry.register(ModelSource(weights=tmp_path / "gone.pt", name="gone"), actor="li.wei")
        assert [v.version for v in registry.versions()] == [1, 2]


def test_promotion_without_a_frozen_set_needs_force_and_a_reason(settings: Settings, tmp_path: Path) -> None:
    weights = swapped_copy(tmp_path / "swapped.onnx")
    with Registry(settings) as registry:
        registry.register(ModelSource(weights=weights, name="swapped"), actor="li.wei")
        with pytest.raises(PromotionRefusedError, match="no frozen evaluation set"):
            registry.promote(ModelRef.of("v2"), actor="supervisor")
        with pytest.raises(RegistryError, match="--force needs --reason"):
            registry.promote(ModelRef.of("2"), actor="supervisor", force=True)
        activation, comparison = registry.promote(ModelRef.of("2"), actor="supervisor", force=True,
                                                  reason="trial without a frozen set")
        assert (activation.version, activation.previous_version, activation.forced, comparison) == (2, 1, True, None)
        assert registry.active().label == "swapped@v2"  # type: ignore[union-attr]
    assert process_model(settings).label == "swapped@v2"


def test_a_changed_model_file_is_refused_before_use(settings: Settings, tmp_path: Path) -> None:
    weights = swapped_copy(tmp_path / "swapped.onnx")
    with Registry(settings) as registry:
        info = registry.register(ModelSource(weights=weights, name="swapped"), actor="li.wei")
        registry.promote(ModelRef.of("2"), actor="supervisor", force=True, reason="test")
    with (info.runtime_path).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelFileError, match="was changed"):
        process_model(settings)
    info.runtime_path.unlink()
    with pytest.raises(ModelFileError, match="is missing"):
        process_model(settings)


def test_shadow_models_are_named_by_version_or_by_the_version_their_file_is(settings: Settings,
                                                                            tmp_path: Path) -> None:
    weights = swapped_copy(tmp_path / "swapped.onnx")
    with Registry(settings) as registry:
        registry.register(ModelSource(weights=weights, name="swapped"), actor="li.wei")
    by_version = shadow_model(settings, "v2")
    assert (by_version.label, by_version.version) == ("swapped@v2", 2) and by_version.path.is_file()
    by_file = shadow_model(settings, str(weights))
    assert (by_file.label, by_file.version, by_file.path) == ("swapped@v2", 2, weights)
    other = swapped_copy(tmp_path / "unregistered.onnx")
    other.write_bytes(other.read_bytes() + b"\0")  # other bytes: not a registered file
    assert shadow_model(settings, str(other)).label == "unregistered"
    with pytest.raises(ModelRefError, match="neither a version"):
        shadow_model(settings, "the good one")
