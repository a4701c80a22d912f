"""End-to-end with the real packaged model (all-MiniLM-L6-v2): what a user actually gets back."""

from __future__ import annotations

import json

import pytest
from conftest import SEED_QUESTIONS, TITLE, write_tree

from passage_search.index.build import build_index
from passage_search.passage import embedding_text
from passage_search.search.searcher import Searcher

pytestmark = pytest.mark.model

# Floors measured on the bundled corpus with the default (hybrid) search settings: 27 and 28 of 28
# questions. Raise them as ranking improves; never lower them to make a change pass.
SEED_TOP1_MIN = 27 / 28
SEED_TOP3_MIN = 28 / 28
_EPS = 1e-9


def test_limb_sparing_surgery_finds_the_surgery_passage(real_searcher):
    hits = real_searcher.search("limb-sparing surgery", k=3)
    assert hits[0].passage.heading_path == (TITLE, "Surgery for soft tissue sarcoma")
    assert "limb-sparing surgery" in hits[0].passage.text


def test_spread_to_the_lungs_finds_the_stage_4_passage(real_searcher):
    hits = real_searcher.search("options once the sarcoma has spread to the lungs", k=3)
    assert hits[0].passage.heading_path == (TITLE, "Treatments for stage 4 soft tissue sarcoma")


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_ranks_the_surgery_passage_for_amputation(real_searcher, mode):
    hits = real_searcher.search("amputation", k=3, mode=mode)
    # BM25 returns only passages that contain a query word; the dense modes always fill k.
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len(hits) == (1 if mode == "lexical" else 3)
    assert hits[0].passage.heading_path[-1] == "Surgery for soft tissue sarcoma"


def test_real_index_holds_the_bundled_corpus(real_searcher):
    passages = real_searcher.passages
    assert len(passages) == 11
    assert {p.publisher for p in passages} == {"Canadian Cancer Society"}
    assert real_searcher.manifest.model.name == "all-MiniLM-L6-v2"
    assert real_searcher.manifest.model.dimension == 384


def test_seed_questions_rates(real_searcher):
    questions = [json.loads(line) for line in SEED_QUESTIONS.read_text("utf-8").splitlines() if line.strip()]
    assert len(questions) >= 20
    top1 = top3 = 0
    misses = []
    for q in questions:
        want = tuple(q["heading_path"])
        got = [h.passage.heading_path for h in real_searcher.search(q["question"], k=3)]
        top1 += got[:1] == [want]
        top3 += want in got
        if got[:1] != [want]:
            misses.append(f"  {q['question']!r}: wanted {want[-1]!r}, got {[g[-1] for g in got]}")
    n = len(questions)
    print(f"\nseed questions: top-1 {top1}/{n} = {top1 / n:.3f}, top-3 {top3}/{n} = {top3 / n:.3f}")
    print("top-1 misses:\n" + "\n".join(misses))
    assert top1 / n >= SEED_TOP1_MIN - _EPS, f"top-1 {top1}/{n} below {SEED_TOP1_MIN:.3f}"
    assert top3 / n >= SEED_TOP3_MIN - _EPS, f"top-3 {top3}/{n} below {SEED_TOP3_MIN:.3f}"


LONG_SENTENCES = [
    "Many people feel tired for weeks after treatment, and short walks each day can slowly rebuild energy.",
    "Hair loss depends on the drugs used, and some hospitals lend wigs or headscarves free of charge.",
    "Mouth sores can be eased by rinsing with salt water and avoiding spicy or acidic foods.",
    "Your employer may allow a gradual return to work with shorter hours for the first month.",
    "Some cancer drugs affect fertility, so ask about storing eggs or sperm before treatment starts.",
    "Most vaccines are safe during chemotherapy, but live vaccines should be avoided until your team agrees.",
    "Skin in the treated area can become red and itchy, so use the gentle cream the nurses recommend.",
    "Talking to a counsellor or joining a support group helps many people cope with worry and low mood.",
    "Children often notice when a parent is unwell, and simple honest explanations usually help them most.",
    "Travel insurance can be harder to find after a cancer diagnosis, so compare specialist insurers.",
    "Drinking plenty of water helps the kidneys clear chemotherapy drugs from the body after each cycle.",
    "A dentist should check your teeth before radiation to the head or neck begins.",
    "Numbness or tingling in the hands and feet can be a side effect of some chemotherapy drugs.",
    "Keep a diary of symptoms so you can tell your doctor when problems started and how long they lasted.",
    "Sex and intimacy can change during treatment, and your nurse can suggest practical ways to manage this.",
    "Gentle stretching after limb surgery helps the joint keep its movement while the wound heals.",
    "A physiotherapist can teach exercises that strengthen the muscles around the operated area.",
    "Pets can carry infections, so wear gloves when cleaning litter trays while your blood counts are low.",
    "Financial advisers at the cancer centre can explain which benefits and grants you may be able to claim.",
    "Sleep problems are common, and a regular bedtime routine without screens can help.",
    "Smoking slows wound healing and makes radiation side effects worse, so ask for help to stop.",
    "Eating small meals every few hours may be easier than three large meals when your appetite is poor.",
    "Sun protection matters because treated skin burns more easily for a year or more after radiation.",
    "Driving may not be safe after some operations or while you take painkillers that cause drowsiness.",
    "Blood tests before each cycle check that your white cells have recovered enough for the next dose.",
    "Friends often want to help, so give them specific tasks such as cooking or driving you to clinic.",
    "Scanxiety is the nervous feeling many people have in the days before a scan or a results appointment.",
    "Keeping in touch with your family doctor helps them support you between hospital appointments.",
    "Clinical trials test new treatments, and your oncologist can tell you whether any trial suits you.",
    "Hospital volunteers run a drop-in centre with free tea, books and a quiet room for patients and carers.",
    "Free parking permits for patients who come in every day for radiation treatment are handed out at the "
    "information desk in the main lobby.",
]


def test_question_about_the_last_sentence_of_a_long_section_finds_its_last_piece(tmp_path, real_embedder):
    body = " ".join(LONG_SENTENCES)
    assert real_embedder.count_tokens(body) > 2 * 256
    corpus = write_tree(
        tmp_path / "corpus",
        {
            "living.txt": "Living with cancer\n\nThis guide answers everyday questions.\n\n"
            "Practical matters during treatment\n\n" + body + "\n\nMedical disclaimer\n\nAsk your doctor.\n"
        },
    )
    build_index(corpus, tmp_path / "index", embedder=real_embedder)
    searcher = Searcher(tmp_path / "index", embedder=real_embedder)
    pieces = [p for p in searcher.passages if p.heading_path[-1] == "Practical matters during treatment"]
    assert len(pieces) >= 3
    for p in searcher.passages:
        assert real_embedder.count_tokens(embedding_text(p)) + 2 <= real_embedder.max_tokens
    last = max(pieces, key=lambda p: p.position)
    assert last.text.endswith(LONG_SENTENCES[-1])
    hits = searcher.search("where do I get a free parking permit for my daily radiation visits?", k=3)
    assert hits[0].passage == last
