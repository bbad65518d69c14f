"""Pydantic shapes of the API, mirroring ``Analysis.to_dict`` for the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from propscope.decoding import Sensitivity


class SourceIn(BaseModel):
    """Where a text came from, as the sender knows it: the browser extension sends the page's."""

    url: str | None = Field(default=None, max_length=4096, description="The page the text was read from.")
    title: str | None = Field(default=None, max_length=1000)
    name: str | None = Field(default=None, max_length=200, description="The outlet or site, e.g. Millbrook Gazette.")


class AnalyzeRequest(BaseModel):
    """Exactly one of ``text`` or ``url``; ``source`` only with ``text``."""

    text: str | None = Field(default=None, description="The article text.")
    url: str | None = Field(default=None, description="An http(s) URL of an article page.")
    sensitivity: Sensitivity | None = Field(
        default=None,
        description="low: only spans the model is sure of; balanced: the best F1; high: every plausible "
                    "candidate. Default: the server's setting (balanced unless started otherwise).",
    )
    language: str | None = Field(
        default=None, description="The text's language as an ISO 639-1 code (en, fr, ru, ...), instead of "
                                  "detecting it; it chooses the model.")
    source: SourceIn | None = Field(
        default=None,
        description="Where the text came from, stored with the analysis (default: its first line as the title). "
                    "Only with text: a fetched url brings its own.",
    )

    @model_validator(mode="after")
    def one_input(self) -> AnalyzeRequest:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of text or url")
        if self.source is not None and self.url is not None:
            raise ValueError("give source with text only; a url brings its own")
        return self


class BatchRequest(BaseModel):
    items: list[AnalyzeRequest] = Field(min_length=1)
    sensitivity: Sensitivity | None = Field(default=None, description="For every item that sets none itself.")
    language: str | None = Field(default=None, description="For every item that sets none itself.")


class AlternativeOut(BaseModel):
    technique: str
    probability: float


class SpanOut(BaseModel):
    start: int
    end: int
    technique: str = Field(description="The likeliest technique (a PTC label).")
    confidence: float
    alternatives: list[AlternativeOut] = Field(
        default_factory=list, description="Where not empty, the label is not to be trusted: the model's labels of "
                                          "this technique are too seldom right out of fold. The two likeliest "
                                          "techniques, shown as 'a technique, unsure which'.")


class SentenceOut(BaseModel):
    start: int
    end: int
    propaganda: bool = Field(description="A span lies in the sentence, or the model sees a technique in it "
                                         "without a span sure enough to show.")
    techniques: list[str] = Field(description="The techniques of the spans in the sentence.")


class ModelOut(BaseModel):
    name: str
    version: str
    sha256: str
    sensitivity: Sensitivity


class SourceOut(BaseModel):
    name: str | None
    url: str | None
    site: str | None
    title: str | None
    author: str | None
    date: str | None


class LanguageOut(BaseModel):
    code: str = Field(description="ISO 639-1; empty when no language can be told.")
    name: str
    detected: bool = Field(description="False when the request named it.")
    note: str | None = Field(description="What a reader must know: an untrained language, a mixed text.")


class AnalysisOut(BaseModel):
    """A stored analysis: its library id and the Analysis (schema version 1)."""

    id: int
    schema_version: int
    text: str
    spans: list[SpanOut]
    sentences: list[SentenceOut]
    score: float
    model: ModelOut
    source: SourceOut | None
    language: LanguageOut | None


class SummaryOut(BaseModel):
    id: int
    source: str | None
    url: str | None
    title: str | None
    published: str | None
    score: float
    n_spans: int
    model_version: str
    language: str | None
    created_at: str


class TechniqueOut(BaseModel):
    id: str
    ptc_label: str
    name: str
    definition: str
    colour: str
    pale_colour: str = Field(description="The colour mixed with white: a span's fill around the spans nested in it.")


class TrendRowOut(BaseModel):
    """One source in one period."""

    source: str = Field(description="The source's name; (unknown) for analyses without one.")
    period: str = Field(description="A day (YYYY-MM-DD), a week (its Monday, YYYY-MM-DD) or a month (YYYY-MM).")
    articles: int
    mean_score: float
    spans: int
    shares: dict[str, float] = Field(description="Each technique id's share of the spans, 0..1 (all 0 without spans).")


class TrendArticleOut(BaseModel):
    """One analysis of a period: open it at /a/{id} or /api/v1/analyses/{id}."""

    id: int
    source: str
    title: str | None
    url: str | None
    score: float
    n_spans: int
    date: str = Field(description="The day it is counted on: its published date, else the day it was stored.")


class ProblemOut(BaseModel):
    """Every error: problem details (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    return {status: {"model": ProblemOut, "content": {"application/problem+json": {}}} for status in statuses}
