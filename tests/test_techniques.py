import re

import pytest

from propscope import techniques
from propscope.errors import UnknownTechnique
from tests import colour_vision

PTC_LABELS = {
    "Appeal_to_Authority", "Appeal_to_fear-prejudice", "Bandwagon,Reductio_ad_hitlerum",
    "Black-and-White_Fallacy", "Causal_Oversimplification", "Doubt", "Exaggeration,Minimisation",
    "Flag-Waving", "Loaded_Language", "Name_Calling,Labeling", "Repetition", "Slogans",
    "Thought-terminating_Cliches", "Whataboutism,Straw_Men,Red_Herring",
}


COLOURS = [t.colour for t in techniques.TECHNIQUES]


def test_glossary_has_the_14_ptc_labels() -> None:
    assert set(techniques.PTC_LABELS) == PTC_LABELS
    assert len(set(techniques.IDS)) == 14


@pytest.mark.parametrize("technique", techniques.TECHNIQUES, ids=lambda t: t.id)
def test_technique_is_documented_and_readable(technique: techniques.Technique) -> None:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", technique.definition) if s]
    assert 2 <= len(sentences) <= 3
    assert re.fullmatch(r"#[0-9a-f]{6}", technique.colour)
    readable = colour_vision.contrast(techniques.HIGHLIGHT_TEXT, technique.colour)
    assert readable >= 4.5, f"text on the {technique.id} highlight has contrast {readable:.1f}"


# In PTC's training split, these eight carry most of the spans.
MOST_FREQUENT = ("loaded_language", "name_calling", "repetition", "doubt", "exaggeration_minimisation",
                 "flag_waving", "appeal_to_fear", "causal_oversimplification")


@pytest.mark.parametrize("vision", colour_vision.DEFICIENCIES)
def test_colours_stay_apart_in_each_kind_of_colour_vision(vision: str) -> None:
    # Paul Tol's 9-colour "light" palette, built for colour-blind readers, scores 7.47 here.
    assert colour_vision.closest_pair(COLOURS)[vision] >= 7.4
    frequent = [techniques.get(t).colour for t in MOST_FREQUENT]
    assert colour_vision.closest_pair(frequent)[vision] >= 12.5
    seen = colour_vision.seen_as([*COLOURS, "#ffffff"], vision)
    against_white = colour_vision.delta_e2000(seen[:-1], seen[-1])
    assert against_white.min() >= 20, "a highlight must stand out from the white page"
    loaded, name_calling = (techniques.index(t) for t in ("loaded_language", "name_calling"))
    assert colour_vision.delta_e2000(seen[loaded], seen[name_calling]) >= 40


def test_get_accepts_ids_and_labels_and_explains_unknowns() -> None:
    assert techniques.get("loaded_language") is techniques.get("Loaded_Language")
    with pytest.raises(UnknownTechnique, match="valid ids: appeal_to_authority"):
        techniques.get("lies")
