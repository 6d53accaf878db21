from __future__ import annotations

import copy

import pytest
import yaml

from streetwatch.core.settings import DEFAULT_TAXONOMY
from streetwatch.core.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))


def test_the_shipped_taxonomy_covers_the_four_families():
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    assert set(taxonomy.families) == {"stall", "garbage", "parking", "ads"}
    for name in ("car", "truck", "bus", "motorcycle", "bicycle", "person", "umbrella", "dining_table", "chair",
                 "bench", "shop_sign", "projecting_sign", "window_ad"):
        assert taxonomy.lookup(name) is not None, name


@pytest.mark.parametrize(("name", "canonical", "event"), [
    ("dining table", "dining_table", "0502"),   # COCO's spelling
    ("Dining-Table", "dining_table", "0502"),
    ("signboard", "shop_sign", "0204"),         # the facade data's spelling
    ("win_ad", "window_ad", "0201"),
    ("car", "car", "0508"),
    ("bicycle", "bicycle", "0509"),
    ("person", "person", None),
])
def test_lookup_by_name_or_alias(name, canonical, event):
    spec = load_taxonomy(DEFAULT_TAXONOMY).lookup(name)
    assert spec is not None and spec.name == canonical and spec.event_code == event


def test_class_knowledge_comes_from_the_file():
    taxonomy = load_taxonomy(DEFAULT_TAXONOMY)
    assert taxonomy.typical_size("car") == (4.5, 1.8, 1.5) and taxonomy.typical_size("banner") is None
    assert taxonomy.on_ground("car") and not taxonomy.on_ground("shop_sign") and taxonomy.on_ground("giraffe")
    assert taxonomy.licence_group("projecting_sign") == ("signboard", frozenset({"shop_sign", "projecting_sign"}))
    assert taxonomy.licence_group("banner") == (None, frozenset({"banner"}))
    assert taxonomy.same_vehicle_kind("car", "bus") and taxonomy.same_vehicle_kind("bicycle", "motorcycle")
    assert not taxonomy.same_vehicle_kind("car", "bicycle")
    assert taxonomy.full_bin_class == "overflowing_bin"


def test_unknown_classes_are_not_in_the_taxonomy():
    assert load_taxonomy(DEFAULT_TAXONOMY).lookup("giraffe") is None


def _broken(raw, path, value):
    doc = copy.deepcopy(raw)
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "message"), [
    (("classes", "car", "family"), "cars", "unknown family 'cars'"),
    (("classes", "car", "event"), "9999", "unknown event code '9999'"),
    (("classes", "car", "event"), "0101", "belongs to family 'garbage'"),
    (("classes", "car", "role"), "maybe", "role must be"),
    (("classes", "car", "event"), None, "needs an 'event'"),
    (("classes", "bus", "aliases"), ["car"], "used by both"),
    (("events", "0508", "family"), "nowhere", "unknown family 'nowhere'"),
    (("families",), KeyError, "missing required key 'families'"),
    (("classes", "car", "size"), [4.5, 1.8], r"size must be \[length, width, height\]"),
    (("classes", "car", "size"), [4.5, -1.8, 1.5], "three numbers > 0"),
    (("classes", "car", "size"), "big", "class 'car': size must be"),
    (("classes", "banner", "mounting"), "ceiling", "class 'banner': mounting must be one of ground, wall"),
    (("licence_groups", "signboard"), ["shop_sign", "neon_sign"], "licence_groups 'signboard': unknown class "
                                                                  "'neon_sign'"),
    (("same_vehicle_groups", "motor_vehicle"), ["car", "tractor"], "same_vehicle_groups 'motor_vehicle': "
                                                                   "unknown class 'tractor'"),
    (("same_vehicle_groups", "two_wheeler"), ["bicycle", "car"], "'car' is already in group 'motor_vehicle'"),
    (("same_vehicle_groups",), ["car", "bus"], "same_vehicle_groups must map a group name"),
    (("full_bin_class",), "skip", "full_bin_class 'skip' must name a class"),
    (("full_bin_class",), "bin", "full_bin_class 'bin' must name a class with an event code"),
])
def test_malformed_taxonomies_are_refused_with_a_clear_message(raw, path, value, message):
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(_broken(raw, path, value))


def test_missing_and_unparseable_files(tmp_path):
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy(bad)
