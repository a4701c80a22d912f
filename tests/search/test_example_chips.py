"""The example chips of the empty page: one short chip per top-level section, each finding its own section.

The unit tests run on passages made here; the end-to-end tests search every chip with the real model, on
the bundled corpus and on a second corpus on another subject (tests/data/diabetes_corpus).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from passage_search.ingest.notices import is_notice
from passage_search.passage import Passage
from passage_search.search.topics import (
    MAX_CHIP_CHARS,
    chip_labels,
    example_searches,
    examples,
    subject_words,
    top_topic,
)

DIABETES_CORPUS = Path(__file__).resolve().parents[1] / "data" / "diabetes_corpus"

SARCOMA = "Treatments for soft tissue sarcoma"
SARCOMA_SECTIONS = [
    "Treatments for stage 1 soft tissue sarcoma",
    "Treatments for stages 2 and 3 soft tissue sarcoma",
    "Treatments for stage 4 soft tissue sarcoma",
    "Treatments for recurrent soft tissue sarcoma",
    "Surgery for soft tissue sarcoma",
    "Radiation therapy for soft tissue sarcoma",
    "Chemotherapy for soft tissue sarcoma",
    "Targeted therapy for soft tissue sarcoma",
    "Follow-up after treatment for soft tissue sarcoma",
]
SARCOMA_CHIPS = [
    "Stage 1",
    "Stages 2 and 3",
    "Stage 4",
    "Recurrent sarcoma",
    "Surgery",
    "Radiation therapy",
    "Chemotherapy",
    "Targeted therapy",
    "Follow-up after treatment",
]


def passages(*sections: tuple[str, tuple[str, ...], str]) -> list[Passage]:
    """Passages from (doc_id, heading path, text), in the order given."""
    return [
        Passage(f"{doc}-{i}", doc, path[0], path, text, f"{doc}.md", i) for i, (doc, path, text) in enumerate(sections)
    ]


def sarcoma_page() -> list[Passage]:
    return passages(
        ("sts", (SARCOMA,), "Your healthcare team will create a treatment plan just for you."),
        *[("sts", (SARCOMA, h), f"Text about {h.lower()}.") for h in SARCOMA_SECTIONS[:4]],
        ("sts", (SARCOMA, "Surgery for soft tissue sarcoma"), "Surgery is the main treatment."),
        ("sts", (SARCOMA, "Surgery for soft tissue sarcoma", "Amputation"), "Sometimes the limb is removed."),
        ("sts", (SARCOMA, "Surgery for soft tissue sarcoma"), "A second passage of the same section."),
        *[("sts", (SARCOMA, h), f"Text about {h.lower()}.") for h in SARCOMA_SECTIONS[5:]],
        ("sts", (SARCOMA, "Medical disclaimer"), "This does not replace your doctor."),
        ("sts", (SARCOMA, "Copyright"), "© 2024 Example Society"),
    )


# ---- generation, on passages made here -------------------------------------------------------------------


def test_one_short_chip_per_top_level_section_in_document_order():
    chips = examples(sarcoma_page())
    assert [c.label for c in chips] == SARCOMA_CHIPS
    assert [c.section for c in chips] == SARCOMA_SECTIONS
    assert all(len(c.label) <= MAX_CHIP_CHARS for c in chips)
    assert example_searches(sarcoma_page()) == SARCOMA_CHIPS


def test_notices_opening_text_subsections_and_empty_sections_make_no_chip():
    page = sarcoma_page() + passages(("sts", (SARCOMA, "Expert review and references"), "  \n "))
    labels = example_searches(page)
    assert labels == SARCOMA_CHIPS  # no disclaimer, copyright, opening text, "Amputation" or empty section
    assert not any(word in label.lower() for label in labels for word in ("disclaimer", "copyright", "amputation"))


def test_the_repeated_subject_is_found_from_the_headings_and_title():
    assert subject_words(SARCOMA, SARCOMA_SECTIONS) == ("soft", "tissue", "sarcoma")
    # Not in the title: not the subject, whatever the headings repeat.
    assert subject_words("Cancer treatments", ["Radiation therapy", "Targeted therapy", "Hormone therapy"]) == ()
    # In too few headings: not the subject.
    assert subject_words(SARCOMA, ["Surgery for soft tissue sarcoma", "Radiation therapy", "Chemotherapy"]) == ()


def test_subject_words_are_dropped_and_the_rest_still_reads_as_a_phrase():
    title = "Managing type 2 diabetes"
    headings = [
        "About type 2 diabetes",
        "Symptoms of type 2 diabetes",
        "Testing for type 2 diabetes",
        "Eating well",
        "Medicines for type 2 diabetes",
        "Low blood sugar (hypoglycemia)",
        "Living with type 2 diabetes",
    ]
    assert chip_labels(title, headings) == [
        "About diabetes",  # nothing would be left: the subject's noun stays
        "Symptoms",
        "Testing",
        "Eating well",
        "Medicines",
        "Low blood sugar",  # 30 characters: the aside in brackets goes
        "Living with diabetes",  # "with" is kept, and the noun after it
    ]


def test_a_shared_opening_is_dropped_only_when_a_label_is_too_long():
    short = ["Treatments for stage 1 soft tissue sarcoma", "Treatments for stage 4 soft tissue sarcoma",
             "Surgery for soft tissue sarcoma"]
    assert chip_labels(SARCOMA, short) == ["Treatments for stage 1", "Treatments for stage 4", "Surgery"]
    assert chip_labels(SARCOMA, short, limit=20) == ["Stage 1", "Stage 4", "Surgery"]


def test_a_long_heading_loses_its_last_words_not_a_word_in_half():
    [label] = chip_labels("Hip replacement", ["Questions to ask your healthcare team before you go home"])
    assert label == "Questions to ask"
    assert len(label) <= MAX_CHIP_CHARS


def test_each_document_has_its_own_subject_and_same_labels_share_a_chip():
    diet = "Eating well during treatment"
    page = sarcoma_page() + passages(
        ("diet", (diet, "Appetite"), "Small meals help."),
        ("diet", (diet, "Appetite", "Nausea"), "Ginger may help."),
        ("diet", (diet, "Surgery"), "Eat well before surgery."),
        ("diet", (diet, "Drinking enough during treatment"), "Sip water often."),
    )
    labels = example_searches(page)
    assert labels == [*SARCOMA_CHIPS, "Appetite", "Drinking enough"]
    assert example_searches(page, n=3) == SARCOMA_CHIPS[:3]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("abc Ab1(-:?"), max_size=60), min_size=1, max_size=8),
       st.integers(min_value=8, max_value=40))
@example([": 1111111"], 8)  # once left an empty label: only punctuation survived the cut
def test_every_heading_gets_one_label_within_the_limit(headings, limit):
    labels = chip_labels("Abc abc", headings, limit)
    assert len(labels) == len(headings)
    for heading, label in zip(headings, labels, strict=True):
        assert len(label) <= limit
        assert bool(label.strip()) == bool(heading.strip(" .:;,")), (heading, label)


# ---- every chip finds its own section first, with the real model -------------------------------------------


def own_section_ranks(searcher) -> dict[str, int | None]:
    """Each chip: the rank of the first hit in the section it was made from (None: not in the top 10)."""
    ranks: dict[str, int | None] = {}
    for chip in examples(searcher.passages):
        hits = searcher.search(chip.label, k=10, mode="hybrid")
        ranks[chip.label] = next(
            (h.rank for h in hits if h.passage.doc_id == chip.doc_id and top_topic(h.passage) == chip.section), None
        )
    return ranks


def sections_with_text(searcher) -> list[str]:
    out: dict[str, None] = {}
    for p in searcher.passages:
        if len(p.heading_path) > 1 and not is_notice(p):
            out.setdefault(top_topic(p))
    return list(out)


@pytest.mark.model
def test_every_chip_of_the_bundled_corpus_finds_its_own_section_first(real_searcher):
    ranks = own_section_ranks(real_searcher)
    assert ranks == dict.fromkeys(ranks, 1), ranks
    assert list(ranks) == SARCOMA_CHIPS
    assert [c.section for c in examples(real_searcher.passages)] == sections_with_text(real_searcher)


@pytest.fixture(scope="module")
def diabetes_searcher(tmp_path_factory: pytest.TempPathFactory, real_embedder):
    from passage_search.index.build import build_index
    from passage_search.search.searcher import Searcher

    out = tmp_path_factory.mktemp("diabetes") / "index"
    build_index(DIABETES_CORPUS, out, embedder=real_embedder)
    return Searcher(out, embedder=real_embedder)


@pytest.mark.model
def test_every_chip_of_a_second_corpus_finds_its_own_section_first(diabetes_searcher):
    ranks = own_section_ranks(diabetes_searcher)
    assert ranks == dict.fromkeys(ranks, 1), ranks
    assert list(ranks) == [
        "About diabetes",
        "Symptoms",
        "Testing",
        "Eating well",
        "Physical activity",
        "Medicines",
        "Checking your blood sugar",
        "Low blood sugar",
        "Long-term complications",
        "Living with diabetes",
    ]
    # One per top-level section with text: not the disclaimer, nor "Related pages" (no text under it).
    assert [c.section for c in examples(diabetes_searcher.passages)] == sections_with_text(diabetes_searcher)
    assert "Related pages" not in sections_with_text(diabetes_searcher)
