"""Pydantic shapes of the API, mirroring ``Analysis.to_dict`` for the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from propscope.decoding import Sensitivity


class AnalyzeRequest(BaseModel):
    """Exactly one of ``text`` or ``url``."""

    text: str | None = Field(default=None, description="The article text.")
    url: str | None = Field(default=None, description="An http(s) URL of an article page.")
    sensitivity: Sensitivity | None = Field(
        default=None,
        description="low: only spans the model is sure of; balanced: the best F1; high: every plausible "
                    "candidate. Default: the server's setting (balanced unless started otherwise).",
    )

    @model_validator(mode="after")
    def one_input(self) -> AnalyzeRequest:
        if (self.text is None) == (self.url is None):
            raise ValueError("give exactly one of text or url")
        return self


class BatchRequest(BaseModel):
    items: list[AnalyzeRequest] = Field(min_length=1)
    sensitivity: Sensitivity | None = Field(default=None, description="For every item that sets none itself.")


class SpanOut(BaseModel):
    start: int
    end: int
    technique: str
    confidence: float


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


class SummaryOut(BaseModel):
    id: int
    source: str | None
    url: str | None
    title: str | None
    published: str | None
    score: float
    n_spans: int
    model_version: str
    created_at: str


class TechniqueOut(BaseModel):
    id: str
    ptc_label: str
    name: str
    definition: str
    colour: str


class ProblemOut(BaseModel):
    """Every error: problem details (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries for the problem statuses a route can answer."""
    return {status: {"model": ProblemOut, "content": {"application/problem+json": {}}} for status in statuses}
