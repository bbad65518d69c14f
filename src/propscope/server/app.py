"""The web app and HTTP API: ``create_app(settings) -> FastAPI``.

Every page has a JSON twin: ``/a/{id}`` renders the same stored ``Analysis`` that
``/api/v1/analyses/{id}`` returns. Errors are JSON problem details (RFC 9457) on the API and
an error page on the site; neither ever shows a stack trace.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from propscope import ingest, techniques, trends
from propscope._version import __version__
from propscope.analysis import Analysis, Source
from propscope.decoding import Sensitivity, check_sensitivity
from propscope.errors import FetchError, InputError, PropscopeError, StorageError
from propscope.extension import EXTENSION_ID, EXTENSION_ORIGIN
from propscope.language import Readers
from propscope.library import lookup, store
from propscope.model_internals import Internals
from propscope.reports import html as html_report
from propscope.reports.charts import bar_chart, stacked_bar_chart
from propscope.reports.words import language_line, score_reading, sentence_summary
from propscope.server.runtime import InferenceQueue, Metrics, QueueFull
from propscope.server.schemas import (
    AnalysisOut,
    AnalyzeRequest,
    BatchRequest,
    SourceIn,
    SummaryOut,
    TechniqueOut,
    TrendArticleOut,
    TrendRowOut,
    problems,
)
from propscope.server.trends_page import view as trends_page_context
from propscope.store import Library

API_KEY_ENV = "PROPSCOPE_API_KEY"
LOG = logging.getLogger("propscope.server")
AnalysisId = Annotated[int, FastAPIPath(ge=1, le=2**63 - 1, description="The analysis's library id.")]
KEY_COOKIE = "propscope_key"
PUBLIC_PATHS = ("/healthz", "/static/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Settings:
    """How the server runs; every field has a safe default."""

    db: Path | None = None
    model_dir: Path | None = None  # the English model
    multilingual_dir: Path | None = None  # default: the installed propscope-multilingual, if any
    api_key: str | None = None
    allow_private_urls: bool = False
    max_body_bytes: int = 1_000_000
    max_text_chars: int = 300_000
    batch_limit: int = 16
    workers: int = 2  # analyses at once, one core each; 1 gives a single text every core
    queue_limit: int = 32
    fetch_timeout_s: float = 15.0
    analysis_timeout_s: float = 120.0
    sensitivity: Sensitivity = "balanced"  # when a request names none
    # The browser origins besides the server's own that may use the API: the extensions.
    extension_origins: tuple[str, ...] = (EXTENSION_ORIGIN,)


def _status_of(exc: PropscopeError) -> tuple[int, str]:
    """The HTTP status and title of a library error: the input's fault, the storage's, or the server's."""
    if isinstance(exc, (InputError, FetchError)):
        return 422, "Cannot analyse this input"
    if isinstance(exc, StorageError):
        return (503, "Library unavailable") if exc.problem == "locked" else (507, "Insufficient storage")
    return 500, "Server error"


class Problem(Exception):
    """An error to send as problem details."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def problem_response(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of every API error."""
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                        status_code=status, headers=headers, media_type="application/problem+json")


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes, declared or streamed, with 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise Problem(413, "Request body too large", f"the body is over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, "Request body too large", f"the body is over {self.limit} bytes")
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. The model is loaded once, here, and shared by all requests."""
    settings = settings or Settings()
    api_key = settings.api_key or os.environ.get(API_KEY_ENV) or None
    readers = Readers(settings.model_dir, settings.multilingual_dir, sensitivity=settings.sensitivity)
    analyzer = readers.english  # loaded now, so that a bad model folder stops the start
    library = Library(settings.db)
    library_lock = threading.Lock()
    # Several workers each run the model on one core; a single worker uses every core for its text.
    queue = InferenceQueue(workers=settings.workers, limit=settings.queue_limit,
                           initializer=Internals(analyzer).run_on_one_core if settings.workers > 1 else None)
    metrics = Metrics(queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        queue.close()
        library.close()

    app = FastAPI(title="propscope", version=__version__, lifespan=lifespan,
                  description="Find propaganda techniques in news articles, span by span.")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    package = Path(__file__).parent
    app.mount("/static", StaticFiles(directory=package / "static"), name="static")
    environment = Environment(
        loader=ChoiceLoader([PackageLoader("propscope.server", "templates"), html_report.TEMPLATES]),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    templates = Jinja2Templates(env=environment)
    environment.globals.update(techniques=techniques, score_reading=score_reading, sentence_summary=sentence_summary,
                               language_line=language_line,
                                   version=__version__)

    def stored(function: Callable[[Library], Any]) -> Any:
        with library_lock:
            return function(library)

    async def analyse(article: ingest.Article, name: str, sensitivity: Sensitivity | None = None,
                      language: str | None = None) -> tuple[int, Analysis]:
        if len(article.text) > settings.max_text_chars:
            raise Problem(413, "Text too long",
                          f"{name}: {len(article.text)} characters; the limit is {settings.max_text_chars}")
        chosen = sensitivity or readers.sensitivity
        reader, found = await asyncio.to_thread(readers.route, article.text, language, name=name)
        cached = stored(lambda lib: lookup(lib, reader, article, chosen, found))
        if cached is not None:
            return cached.id, cached.analysis

        def run() -> Analysis:
            started = time.perf_counter()
            result = replace(reader.analyze(article.text, name=name, source=article.source, sensitivity=chosen),
                             language=found)
            metrics.observe_inference(time.perf_counter() - started)
            return result

        try:
            analysis = await asyncio.wait_for(queue.run(run), settings.analysis_timeout_s)
        except QueueFull:
            raise Problem(503, "Busy", "the analysis queue is full; retry shortly", {"Retry-After": "2"}) from None
        except TimeoutError:
            raise Problem(504, "Analysis timed out", f"{name}: no result within {settings.analysis_timeout_s:g} s") from None
        return stored(lambda lib: store(lib, reader, analysis)), analysis

    async def article_from(text: str | None, url: str | None,
                           source: SourceIn | None = None) -> tuple[ingest.Article, str]:
        if source is not None:
            given = Source(url=source.url, title=source.title, name=source.name)
            return ingest.Article(text or "", given), source.url or "text"
        if url:
            article = await asyncio.to_thread(ingest.fetch, url, timeout=settings.fetch_timeout_s,
                                              allow_private=settings.allow_private_urls)
            return article, url
        first_line = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
        return ingest.Article(text or "", Source(title=first_line[:100] or None)), "text"

    def output(analysis_id: int, analysis: Analysis) -> dict[str, Any]:
        return {"id": analysis_id, **analysis.to_dict()}

    # ------------------------------------------------------------ middleware and errors

    @app.middleware("http")
    async def guard_and_measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        origin = request.headers.get("origin")
        if request.method not in SAFE_METHODS and origin is not None and origin not in allowed_origins(request):
            # CORS alone would not do: a page's plain-text form POST reaches the server without a preflight.
            return problem_response(403, "Origin refused",
                                    f"requests from {origin} are refused: only this server's pages and the propscope "
                                    "extension may send them (propscope serve --extension-origin adds an extension)")
        if api_key and not request.url.path.startswith(PUBLIC_PATHS):
            given = (request.headers.get("x-api-key") or request.query_params.get("key")
                     or request.cookies.get(KEY_COOKIE) or _bearer(request.headers.get("authorization")))
            if not given or not hmac.compare_digest(given, api_key):
                response: Response = problem_response(401, "API key required",
                                                      "send the key in an X-API-Key header or as ?key=")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        try:
            response = await call_next(request)
        except Problem as exc:
            response = problem_response(exc.status, exc.title, exc.detail, exc.headers)
        route = request.scope.get("route")
        metrics.observe_request(request.method, getattr(route, "path", "unmatched"), response.status_code,
                                time.perf_counter() - started)
        if api_key and request.query_params.get("key") == api_key:
            response.set_cookie(KEY_COOKIE, api_key, httponly=True, samesite="strict")
        return response

    def allowed_origins(request: Request) -> tuple[str, ...]:
        return (f"{request.url.scheme}://{request.url.netloc}", *settings.extension_origins)

    # Outermost, so that it answers the extension's preflights before the key is asked for.
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.extension_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type", "X-API-Key", "Authorization"])

    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return _error(request, exc.status, exc.title, exc.detail, exc.headers)

    @app.exception_handler(PropscopeError)
    async def on_propscope_error(request: Request, exc: PropscopeError) -> Response:
        status, title = _status_of(exc)
        return _error(request, status, title, str(exc), {"Retry-After": "5"} if status == 503 else None)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error(request, 422, "Invalid request", details)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, "Not found" if exc.status_code == 404 else "Request error",
                      str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        LOG.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(request, 500, "Server error", "an unexpected error occurred; it has been logged")

    def _error(request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return problem_response(status, title, detail, headers)
        return templates.TemplateResponse(request, "error.html", {"title": title, "detail": detail},
                                          status_code=status, headers=headers)

    # ------------------------------------------------------------ API

    always = (400, 401, 413, 422)
    analysing = problems(*always, 503, 504, 507)

    @app.post("/api/v1/analyze", response_model=AnalysisOut, tags=["analysis"], responses=analysing)
    async def api_analyze(body: AnalyzeRequest) -> dict[str, Any]:
        """Analyse a text, or the article at a URL; the result is stored in the library."""
        article, name = await article_from(body.text, body.url, body.source)
        return output(*await analyse(article, name, body.sensitivity, body.language))

    @app.post("/api/v1/analyze/batch", response_model=list[AnalysisOut], tags=["analysis"], responses=analysing)
    async def api_analyze_batch(body: BatchRequest) -> list[dict[str, Any]]:
        """Analyse up to ``batch_limit`` texts or URLs, in order."""
        if len(body.items) > settings.batch_limit:
            raise Problem(413, "Batch too large", f"{len(body.items)} items; the limit is {settings.batch_limit}")
        results = []
        for index, item in enumerate(body.items):
            article, name = await article_from(item.text, item.url, item.source)
            results.append(output(*await analyse(article, f"item {index} ({name})", item.sensitivity or body.sensitivity,
                                                 item.language or body.language)))
        return results

    @app.get("/api/v1/analyses/{analysis_id}", response_model=AnalysisOut, tags=["library"],
             responses=problems(*always, 404))
    async def api_analysis(analysis_id: AnalysisId) -> dict[str, Any]:
        """One stored analysis."""
        return output(analysis_id, _get(analysis_id).analysis)

    @app.get("/api/v1/analyses", response_model=list[SummaryOut], tags=["library"], responses=problems(*always))
    async def api_analyses(
        source: str | None = None, q: str | None = None, language: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:
        """Stored analyses, newest first, by source, language (ISO 639-1) and a search in titles, sources and texts."""
        return list(stored(lambda lib: lib.rows(source=source, query=q, language=language, limit=limit)))

    @app.get("/api/v1/trends", response_model=list[TrendRowOut], tags=["library"], responses=problems(*always))
    async def api_trends(by: trends.Period = "week", source: str | None = None,
                         period: str | None = None) -> list[dict[str, Any]]:
        """Articles, mean score and technique shares per source and day, week or month; optionally
        one source, one period. The page /trends draws them."""
        rows = stored(lambda lib: trends.by_period(lib, by, source=source or None, period=period or None))
        return [row.to_dict() for row in rows]

    @app.get("/api/v1/trends/articles", response_model=list[TrendArticleOut], tags=["library"],
             responses=problems(*always))
    async def api_trend_articles(period: str, by: trends.Period = "week", source: str | None = None) -> list[dict[str, Any]]:
        """The analyses of one period (and one source), highest score first."""
        return [article.to_dict() for article in stored(lambda lib: trends.articles(lib, by, period, source=source or None))]

    @app.get("/api/v1/techniques", response_model=list[TechniqueOut], tags=["techniques"], responses=problems(*always))
    async def api_techniques() -> list[dict[str, str]]:
        """The 14 techniques with their names, definitions and colours."""
        return [{"id": t.id, "ptc_label": t.ptc_label, "name": t.name, "definition": t.definition,
                 "colour": t.colour, "pale_colour": t.pale_colour} for t in techniques.TECHNIQUES]

    @app.get("/healthz", tags=["operations"], responses=problems(413, 422))
    async def healthz() -> dict[str, Any]:
        """Liveness: the model is loaded."""
        return {"status": "ok", "model": analyzer.info.to_dict(), "queue_depth": queue.depth}

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"], responses=problems(*always))
    async def prometheus() -> Response:
        """Requests, latency, queue depth, inference time and process figures in the Prometheus text format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def _get(analysis_id: int) -> Any:
        try:
            return stored(lambda lib: lib.get(analysis_id))
        except InputError:
            raise Problem(404, "Not found", f"no analysis with id {analysis_id}") from None

    # ------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request, text: str = "", url: str = "", analyse: bool = False) -> Response:
        """The form, prefilled from the query; with ``analyse=1`` it sends itself (the bookmarklet's link)."""
        return templates.TemplateResponse(request, "index.html", {
            "error": None, "text": text, "url": url, "sensitivity": analyzer.sensitivity, "settings": analyzer.settings,
            "language": "", "autosubmit": analyse and bool(text.strip() or url.strip())})

    @app.get("/read-in-place", response_class=HTMLResponse, include_in_schema=False)
    async def read_in_place(request: Request) -> Response:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return templates.TemplateResponse(request, "read_in_place.html", {
            "bookmarklet": bookmarklet(base), "extension_id": EXTENSION_ID})

    @app.post("/analyze", response_class=HTMLResponse, include_in_schema=False)
    async def analyze_form(request: Request, text: str = Form(""), url: str = Form(""),
                           sensitivity: str = Form(""), language: str = Form("")) -> Response:
        try:
            if not text.strip() and not url.strip():
                raise InputError("paste a text or give a URL")
            article, name = await article_from(text if text.strip() else None, url.strip() or None)
            analysis_id, _ = await analyse(article, name, check_sensitivity(sensitivity) if sensitivity else None,
                                           language.strip() or None)
        except (PropscopeError, Problem) as exc:
            status = exc.status if isinstance(exc, Problem) else _status_of(exc)[0]
            return templates.TemplateResponse(request, "index.html", {
                "error": str(exc), "text": text, "url": url, "sensitivity": sensitivity or analyzer.sensitivity,
                "settings": analyzer.settings, "language": language}, status_code=status)
        return RedirectResponse(f"/a/{analysis_id}", status_code=303)

    @app.get("/a/{analysis_id}", response_class=HTMLResponse, include_in_schema=False)
    async def analysis_page(request: Request, analysis_id: AnalysisId) -> Response:
        analysis = _get(analysis_id).analysis
        counts = analysis.technique_counts(trusted_only=True)
        chart = bar_chart([(techniques.get(k).name, n, techniques.get(k).colour) for k, n in counts.items()],
                          title="Spans per technique")
        return templates.TemplateResponse(request, "analysis.html", {
            "analysis": analysis, "analysis_id": analysis_id, "segments": html_report.segments(analysis),
            "counts": counts, "chart": chart, "source": analysis.source or Source()})

    @app.get("/history", response_class=HTMLResponse, include_in_schema=False)
    async def history(request: Request, q: str = "", source: str = "", language: str = "") -> Response:
        rows = stored(lambda lib: lib.rows(source=source or None, query=q or None, language=language or None, limit=200))
        languages = stored(lambda lib: lib.languages())
        return templates.TemplateResponse(request, "history.html", {"rows": rows, "q": q, "source": source,
                                                                    "language": language, "languages": languages})

    @app.get("/corpus", response_class=HTMLResponse, include_in_schema=False)
    async def corpus(request: Request) -> Response:
        stats = stored(lambda lib: lib.stats(top=10))
        per_technique = _totals(stats["by_source"], "technique")
        top = stored(lambda lib: lib.top_scores(limit=10))
        charts = {
            "sources": stacked_bar_chart(_stacks(stats["by_source"], "source"), title="Techniques per source"),
            "months": stacked_bar_chart(sorted(_stacks(stats["by_month"], "month")), title="Techniques per month"),
            "scores": bar_chart([(r["source"], r["mean_score"], "#be123c") for r in stats["top_sources"]],
                                title="Mean article score by source", value_format="{:.2f}"),
        }
        return templates.TemplateResponse(request, "corpus.html", {
            "charts": charts, "top": top, "per_technique": per_technique})

    @app.get("/trends", response_class=HTMLResponse, include_in_schema=False)
    async def trends_view(request: Request, by: str = "week", source: str = "", period: str = "") -> Response:
        context = stored(lambda lib: trends_page_context(lib, by, source or None, period or None))
        return templates.TemplateResponse(request, "trends.html", context)

    @app.get("/corpus/technique/{label}", response_class=HTMLResponse, include_in_schema=False)
    async def technique_page(request: Request, label: str) -> Response:
        try:
            technique = techniques.get(label)
        except InputError:
            raise Problem(404, "Not found", f"no technique {label!r}") from None
        examples = stored(lambda lib: lib.examples(technique.ptc_label, limit=200))
        return templates.TemplateResponse(request, "technique.html", {"technique": technique, "examples": examples})

    return app


def bookmarklet(base: str) -> str:
    """A javascript: link that opens this server's form on the page's selected text (up to 4,000
    characters, which fit in a URL) or else on its URL, and sends it."""
    script = ("(()=>{const s=String(getSelection()).trim();"
              "const q=s&&s.length<=4000?'text='+encodeURIComponent(s):'url='+encodeURIComponent(location.href);"
              f"window.open({json.dumps(base + '/?analyse=1&')}+q,'_blank')}})()")
    return "javascript:" + script


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _stacks(rows: list[dict[str, Any]], key: str) -> list[tuple[str, list[tuple[str, float, str]]]]:
    """Rows of (group, technique, spans) as one stack of technique parts per group."""
    stacks: dict[str, list[tuple[str, float, str]]] = {}
    for row in rows:
        technique = techniques.get(row["technique"])
        stacks.setdefault(str(row[key]), []).append((technique.name, float(row["spans"]), technique.colour))
    return list(stacks.items())


def _totals(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[str(row[key])] = totals.get(str(row[key]), 0) + int(row["spans"])
    return dict(sorted(totals.items(), key=lambda item: -item[1]))
