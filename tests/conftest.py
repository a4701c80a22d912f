"""Shared fixtures: a deterministic fake embedder, a tiny corpus, and the real index (built once)."""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SEED_QUESTIONS = REPO / "tests" / "data" / "seed_questions.jsonl"
SEARCH_APP = REPO / "search_app.py"
TITLE = "Treatments for soft tissue sarcoma"

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Implements the ``Embedder`` protocol without a model.

    Each lower-case word is hashed (sha256, so the same in every process) into one of ``dimension`` slots;
    the counts are L2-normalised. Texts sharing words get similar vectors; identical word bags get
    identical vectors. Tokens are whitespace-separated words.
    """

    def __init__(
        self,
        *,
        dimension: int = 64,
        max_tokens: int = 40,
        name: str = "fake-hash",
        fingerprint: str | None = None,
    ) -> None:
        self.name = name
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.fingerprint = fingerprint or f"fake-hash-{dimension}"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                slot = (
                    int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "big") % self.dimension
                )
                out[row, slot] += 1.0
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``files`` (relative name -> text or bytes) under ``root``; return ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


# Markdown the page itself adds around escaped text: the mark on a question's word (letters and digits
# only, see highlight.py) and the "Best answer" badge. Nothing else may be live.
OWN_MARKUP = re.compile(r":orange-background\[\*\*[^\W_]+\*\*\]|^:green-badge\[:material/star: Best answer\]$")


def strip_own_markup(value: str) -> str:
    """``value`` with the page's own marks removed (a marked word keeps its letters)."""
    return OWN_MARKUP.sub(lambda m: re.sub(r"^:orange-background\[\*\*|\*\*\]$", "", m.group()) if "orange" in m.group()
                          else "", value)


def live_markup(value: str) -> list[str]:
    """Characters Markdown would act on in ``value``: any of ``<>[]$`` not escaped by a backslash.

    The page's own marks (``OWN_MARKUP``) are taken out first.
    """
    value = strip_own_markup(value)
    found, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] in "<>[]$":
            found.append(value[i])
        i += 1
    return found


TINY_TXT = """
    Living with sarcoma

    Sarcoma is a rare cancer of the connective tissue. It can start in muscle, fat, nerves or blood vessels.

    Surgery

    Surgery removes the tumour with a margin of healthy tissue. Limb-sparing surgery keeps the arm or leg.

    Radiation therapy

    Radiation therapy uses high-energy rays to destroy cancer cells. It may be given before or after surgery.

    Medical disclaimer

    This information does not replace the advice of your doctor.

    1-800-555-0100 | | © 2024 Example Health Society
    """

TINY_MD = """
    # Eating well during treatment

    Good nutrition helps you cope with treatment and recover afterwards.

    ## Appetite

    Small frequent meals can help when your appetite is poor.

    ### Nausea

    Ginger tea and dry crackers may ease nausea in the morning.
    """


# ---- ways an index folder gets damaged: each must be refused with the rebuild command ----------------------


def _generation(index: Path) -> Path:
    return (index / "current").resolve()


def damage_vectors(index: Path) -> None:
    (_generation(index) / "vectors.faiss").write_bytes(b"not a faiss index" * 50)


def truncate_passages(index: Path) -> None:
    """One passage fewer than vectors: the counts disagree."""
    path = _generation(index) / "passages.jsonl"
    path.write_text("".join(path.read_text("utf-8").splitlines(keepends=True)[:-1]), "utf-8")


def future_format(index: Path) -> None:
    import json

    from passage_search.index.manifest import FORMAT_VERSION

    path = _generation(index) / "manifest.json"
    data = json.loads(path.read_text("utf-8"))
    data["format_version"] = FORMAT_VERSION + 1
    path.write_text(json.dumps(data), "utf-8")


DAMAGE = {"corrupt-vectors": damage_vectors, "truncated-passages": truncate_passages, "future-format": future_format}


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Two documents: a .txt with a sidecar .meta.json, and a .md with nested headings."""
    return write_tree(
        tmp_path / "corpus",
        {
            "sarcoma.txt": TINY_TXT,
            "sarcoma.meta.json": '{"title": "Living with sarcoma", "publisher": "Example Health Society"}',
            "diet.md": TINY_MD,
        },
    )


@pytest.fixture
def fake_index(tiny_corpus: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Path:
    """An index folder built from the tiny corpus with the fake embedder."""
    from passage_search.index.build import build_index

    out = tmp_path / "index"
    build_index(tiny_corpus, out, embedder=fake_embedder)
    return out


# ---- the real model: loaded once, the real index built once per session ------------------------------


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged model on the default backend: what a user's build and page use."""
    from passage_search.embed.factory import make_embedder

    return make_embedder()


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """The bundled corpus/ indexed with the packaged all-MiniLM-L6-v2, in a session temp folder."""
    from passage_search.index.build import build_index

    out = tmp_path_factory.mktemp("real") / "index"
    build_index(CORPUS, out, embedder=real_embedder)
    return out


@pytest.fixture(scope="session")
def real_searcher(real_index: Path, real_embedder):
    from passage_search.search.searcher import Searcher

    return Searcher(real_index, embedder=real_embedder)
