import re

import pytest

from propscope import techniques
from propscope.errors import UnknownTechnique

PTC_LABELS = {
    "Appeal_to_Authority", "Appeal_to_fear-prejudice", "Bandwagon,Reductio_ad_hitlerum",
    "Black-and-White_Fallacy", "Causal_Oversimplification", "Doubt", "Exaggeration,Minimisation",
    "Flag-Waving", "Loaded_Language", "Name_Calling,Labeling", "Repetition", "Slogans",
    "Thought-terminating_Cliches", "Whataboutism,Straw_Men,Red_Herring",
}


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_glossary_has_the_14_ptc_labels() -> None:
    assert set(techniques.PTC_LABELS) == PTC_LABELS
    assert len(set(techniques.IDS)) == 14


@pytest.mark.parametrize("technique", techniques.TECHNIQUES, ids=lambda t: t.id)
def test_technique_is_documented_and_readable(technique: techniques.Technique) -> None:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", technique.definition) if s]
    assert 2 <= len(sentences) <= 3
    assert re.fullmatch(r"#[0-9a-f]{6}", technique.colour)
    contrast = 1.05 / (_luminance(technique.colour) + 0.05)
    assert contrast >= 4.5, f"{technique.id} colour has contrast {contrast:.1f} on white"


def test_get_accepts_ids_and_labels_and_explains_unknowns() -> None:
    assert techniques.get("loaded_language") is techniques.get("Loaded_Language")
    with pytest.raises(UnknownTechnique, match="valid ids: appeal_to_authority"):
        techniques.get("lies")
