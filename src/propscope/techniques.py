"""The 14 propaganda techniques of the PTC corpus: one glossary that every output reads."""

from __future__ import annotations

from dataclasses import dataclass

from propscope.errors import UnknownTechnique


@dataclass(frozen=True, slots=True)
class Technique:
    """One technique: its stable id, its PTC label, and how we explain it to a reader."""

    id: str
    ptc_label: str
    name: str
    definition: str
    colour: str  # the highlight behind the text; HIGHLIGHT_TEXT is written on it

    @property
    def pale_colour(self) -> str:
        """The colour mixed with white: a span's fill around the spans nested in it, so that a
        nested span of the same technique still stands out."""
        return paler(self.colour)


# Dark text stays readable (WCAG contrast 4.5 or more) on every technique colour.
HIGHLIGHT_TEXT = "#111827"
PALE_SHARE = 0.45  # how much of its colour a span keeps around the spans nested in it
# A span whose label is not to be trusted (see label_trust) is drawn in grey, named thus.
UNSURE_COLOUR = "#c8ccd4"
UNSURE_NAME = "A technique, unsure which"


def paler(colour: str) -> str:
    """``colour`` (#rrggbb) mixed with white, keeping ``PALE_SHARE`` of it."""
    channels = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - PALE_SHARE * (255 - c)):02x}" for c in channels)

# The colours were chosen by search over light, moderately saturated sRGB colours, measured
# in normal vision and in simulated protanopia, deuteranopia and tritanopia (CIEDE2000): the
# eight most frequent techniques in PTC first, kept 13 or more apart, then the other six,
# keeping every pair 7.4 or more apart, as far apart as in Paul Tol's 9-colour palette for
# colour-blind readers. Loaded language and name calling differ by over 40.
# tests/test_techniques.py measures all of it.
TECHNIQUES: tuple[Technique, ...] = (
    Technique(
        "appeal_to_authority",
        "Appeal_to_Authority",
        "Appeal to authority",
        "A claim is presented as true because an expert, official or famous person said so. "
        "The authority stands in for evidence, even when the person has no special knowledge "
        "of the matter.",
        "#bb7766",
    ),
    Technique(
        "appeal_to_fear",
        "Appeal_to_fear-prejudice",
        "Appeal to fear or prejudice",
        "The text tries to win support by making the reader afraid of an alternative, or by "
        "playing on prejudices the reader may already hold. Anxiety replaces argument.",
        "#4499aa",
    ),
    Technique(
        "bandwagon_hitler",
        "Bandwagon,Reductio_ad_hitlerum",
        "Bandwagon or guilt by association",
        "The reader is urged to join in because 'everyone' already agrees. Or the reverse: an "
        "idea is rejected because a hated group (Nazis are the classic case) supposedly holds it.",
        "#ee66bb",
    ),
    Technique(
        "black_and_white",
        "Black-and-White_Fallacy",
        "Black-and-white fallacy",
        "Only two options are offered when more exist, often with one of them made "
        "unthinkable. It can also take the form of a dictatorial demand that leaves no choice.",
        "#66bb66",
    ),
    Technique(
        "causal_oversimplification",
        "Causal_Oversimplification",
        "Causal oversimplification",
        "A complicated outcome is blamed on one single cause, or on one group, when many "
        "factors were at play. It makes a messy situation look simple and someone clearly "
        "at fault.",
        "#99ff88",
    ),
    Technique(
        "doubt",
        "Doubt",
        "Doubt",
        "The credibility of a person, group or institution is questioned, usually without "
        "evidence. The aim is that the reader stops trusting them, not that a fact is checked.",
        "#8877ee",
    ),
    Technique(
        "exaggeration_minimisation",
        "Exaggeration,Minimisation",
        "Exaggeration or minimisation",
        "Something is made to seem far bigger, better or worse than it is. Or the opposite: "
        "a serious matter is played down as trivial.",
        "#998833",
    ),
    Technique(
        "flag_waving",
        "Flag-Waving",
        "Flag-waving",
        "The text leans on patriotism or group identity (a nation, a race, a party) to "
        "justify an idea. Supporting the idea is presented as loyalty to the group.",
        "#99aa88",
    ),
    Technique(
        "loaded_language",
        "Loaded_Language",
        "Loaded language",
        "Words and phrases with strong emotional weight are chosen to sway the reader. The "
        "same facts could be told in neutral words.",
        "#99bbff",
    ),
    Technique(
        "name_calling",
        "Name_Calling,Labeling",
        "Name calling or labelling",
        "A person or group is given a label the reader is meant to love or hate, such as an "
        "insult or a flattering epithet. The label does the arguing.",
        "#ddaa22",
    ),
    Technique(
        "repetition",
        "Repetition",
        "Repetition",
        "The same message, word or phrase is repeated again and again until the reader "
        "accepts it. Familiarity is used in place of proof.",
        "#ee4499",
    ),
    Technique(
        "slogans",
        "Slogans",
        "Slogan",
        "A short, catchy phrase, often a call to action, packs a position into a few "
        "memorable words. It is built to be chanted, not examined.",
        "#8899dd",
    ),
    Technique(
        "thought_terminating_cliche",
        "Thought-terminating_Cliches",
        "Thought-terminating cliché",
        "A stock phrase that discourages further thinking and ends the discussion, such as "
        "'it is what it is'. It offers a short answer where a real question remains.",
        "#ffcc44",
    ),
    Technique(
        "whataboutism_strawman",
        "Whataboutism,Straw_Men,Red_Herring",
        "Whataboutism, straw man or red herring",
        "The argument is dodged rather than answered. The text points at an opponent's own "
        "faults, attacks a distorted version of their position, or changes the subject to "
        "something irrelevant.",
        "#77dd88",
    ),
)

_BY_KEY: dict[str, Technique] = {t.id: t for t in TECHNIQUES} | {t.ptc_label: t for t in TECHNIQUES}

PTC_LABELS: tuple[str, ...] = tuple(t.ptc_label for t in TECHNIQUES)
IDS: tuple[str, ...] = tuple(t.id for t in TECHNIQUES)


def get(id_or_label: str) -> Technique:
    """Look a technique up by its id (``loaded_language``) or its PTC label."""
    try:
        return _BY_KEY[id_or_label]
    except KeyError:
        raise UnknownTechnique(
            f"unknown technique {id_or_label!r}; valid ids: {', '.join(IDS)}"
        ) from None


def index(id_or_label: str) -> int:
    """The technique's position in TECHNIQUES, which is also its model output index."""
    return TECHNIQUES.index(get(id_or_label))
