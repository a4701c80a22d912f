"""The HTTP face: a JSON API over one index, for a web team or a support-line tool (``passage-search serve``).

``GET /search?q=...&k=5&mode=hybrid`` (``&rerank=true`` to reorder the top hits with the reranker, ``&exact=true``
to search the words as typed) answers with
``SearchResult.to_json()``; ``GET /healthz`` says whether the index loaded; ``/docs`` documents both. Every
error is ``{"error": "<one sentence>"}``, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from passage_search import __version__
from passage_search.errors import PassageSearchError, QueryError
from passage_search.search.config import SearchConfig
from passage_search.search.searcher import Searcher

log = logging.getLogger(__name__)

MAX_K = 50
DESCRIPTION = (
    "Search patient-information passages by meaning and by words. Each hit is a passage with the headings it "
    "sits under and its source, best first; `confidence` (answer, related or none), `label` and `message` say "
    "whether the first hit answers the question. Every error is a JSON object with one sentence under `error`."
)
# One sentence per parameter, whatever FastAPI found wrong with it (missing, not a number, out of range...).
BAD_PARAMETER = {
    "q": "q is required: the question to search, e.g. /search?q=what+is+limb-sparing+surgery.",
    "k": f"k must be a whole number from 1 to {MAX_K}.",
    "mode": "mode must be one of dense, lexical or hybrid.",
    "rerank": "rerank must be true or false.",
    "exact": "exact must be true or false.",
}
BAD_REQUEST = "The request is not valid; see /docs for the parameters of /search."
INTERNAL = "The search failed unexpectedly; please try again later."
NOT_LOADED = "The search index could not be loaded; see the server log."


class ErrorBody(BaseModel):
    error: str


class HitBody(BaseModel):
    rank: int
    score: float
    id: str
    doc_id: str
    heading_path: list[str]
    title: str
    text: str
    source: str
    publisher: str
    url: str
    ranks: dict[str, int]
    scores: dict[str, float]


class UnderstoodBody(BaseModel):
    words: str
    searched: list[str]


class ResultBody(BaseModel):
    question: str
    mode: str
    confidence: Literal["answer", "related", "none"]
    label: str
    message: str
    certainty: float | None
    corrections: dict[str, str]
    expansions: list[str]
    understood: list[UnderstoodBody]
    showing: str
    instead: str
    exact: bool
    notices: list[str]
    filtered: bool
    ms: float
    hits: list[HitBody]


class HealthBody(BaseModel):
    status: str
    passages: int
    documents: int
    model: str
    index: str
    corpus_fingerprint: str


@dataclass
class _State:
    searcher: Searcher | None = None
    error: str = ""


def error(status: int, sentence: str) -> JSONResponse:
    return JSONResponse({"error": sentence}, status_code=status)


def create_app(
    index_dir: Path | str, *, searcher: Searcher | None = None, model: str | None = None, backend: str | None = None,
    config: SearchConfig | None = None, reranker: Path | str | None = None,
) -> FastAPI:
    """The API over the index at ``index_dir``, loaded (and warmed with one search) when the app starts.

    Args:
        searcher: use this one instead of loading ``index_dir`` (tests pass one with a fake model).
        model, backend: as for ``Searcher``; by default those the index was built with.
        config, reranker: as for ``Searcher`` (whether to rerank by default; the reranker folder).
    An index that cannot be loaded does not stop the app: /healthz and /search answer 503 with the reason.
    """
    state = _State(searcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from passage_search.app.serving import serving_searcher

        try:
            state.searcher = serving_searcher(index_dir, model=model, backend=backend, searcher=state.searcher,
                                              config=config, reranker=reranker)
        except PassageSearchError as exc:
            state.searcher, state.error = None, str(exc)
            log.error("passage-search: %s", exc)
        except Exception:
            state.searcher, state.error = None, NOT_LOADED
            log.exception("Loading the index at %s failed", index_dir)
        yield

    app = FastAPI(title="passage-search", description=DESCRIPTION, version=__version__, lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(_request: Request, exc: RequestValidationError) -> JSONResponse:
        names = [str(e.get("loc", ("",))[-1]) for e in exc.errors()]
        return error(422, next((BAD_PARAMETER[n] for n in names if n in BAD_PARAMETER), BAD_REQUEST))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error(404, "There is nothing here; search with /search?q=your+question, or see /docs.")
        if exc.status_code == 405:
            return error(405, f"{request.url.path} answers GET requests only.")
        return error(exc.status_code, BAD_REQUEST)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("Unexpected error", exc_info=exc)
        return error(500, INTERNAL)

    bodies: dict[int | str, dict[str, Any]] = {
        422: {"model": ErrorBody, "description": "A parameter is missing or not valid (the sentence names it)."},
        503: {"model": ErrorBody, "description": "The index is not loaded or cannot be searched now."},
        500: {"model": ErrorBody, "description": "An unexpected failure (details are in the server log only)."},
    }

    # Plain def: a search is synchronous CPU work, so FastAPI runs it in its threadpool (Searcher is thread-safe).
    @app.get("/search", summary="Search the passages", responses={200: {"model": ResultBody}, **bodies})
    def search(
        q: Annotated[str, Query(description="The question, in the person's own words (up to 1,000 characters).")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"How many passages to return (1 to {MAX_K}).")] = 5,
        mode: Annotated[
            Literal["dense", "lexical", "hybrid"],
            Query(description="dense: meaning only; lexical: words only (BM25); hybrid: both, fused (best)."),
        ] = "hybrid",
        rerank: Annotated[
            bool | None,
            Query(description="Reorder the top hits with the cross-encoder reranker (default: the server's setting)."),
        ] = None,
        exact: Annotated[
            bool,
            Query(description="Search the words as typed: no spelling correction, no clinical words added for lay "
                              "terms (what `showing` offers to undo)."),
        ] = False,
    ) -> JSONResponse:
        if state.searcher is None:
            return error(503, state.error)
        try:
            result = state.searcher.search(q, k=k, mode=mode, rerank=rerank, exact=exact)
        except QueryError as exc:
            return error(422, str(exc))
        except PassageSearchError as exc:  # e.g. the vector store went away
            log.error("passage-search: %s", exc)
            return error(503, str(exc))
        except Exception:
            log.exception("A search failed")  # the question is not logged: it can be personal
            return error(500, INTERNAL)
        return JSONResponse(result.to_json())

    @app.get(
        "/healthz",
        summary="Whether the index is loaded, and which",
        responses={200: {"model": HealthBody}, 503: {"model": ErrorBody, "description": "Why it is not."}},
    )
    def healthz() -> JSONResponse:
        if state.searcher is None:
            return JSONResponse({"status": "unavailable", "error": state.error}, status_code=503)
        manifest = state.searcher.manifest
        return JSONResponse(
            {
                "status": "ok",
                "passages": len(state.searcher.passages),
                "documents": manifest.document_count,
                "model": manifest.model.name,
                "index": state.searcher.index.path.name,  # the generation folder: a rebuild changes it
                "corpus_fingerprint": manifest.corpus_fingerprint,
            }
        )

    return app
