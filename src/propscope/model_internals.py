"""``Internals``: the steps inside ``Analyzer.analyze``, one at a time, for tuning, the
server's worker pool, the benchmarks and the tests. Not the public API."""

from __future__ import annotations

from typing import Any

from propscope.decoding import DecodingParams, Detection
from propscope.model import Analyzer, Encoding


class Internals:
    """The steps inside ``Analyzer.analyze``, one at a time: internal, not the public API.

    Its users are the tuning code, ``calibration`` (threshold search) and ``crossval`` (the
    yardstick), with the server's worker pool, ``benchmarks/`` and the tests. Nothing else
    reaches an Analyzer's private hooks, so they change here, in one place, without notice.
    """

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

    def encode(self, text: str) -> Encoding:
        """Run the encoder over ``text``. Blocks are computed lazily as they are iterated."""
        return self.analyzer._encode(text)

    def decode(self, encoding: Encoding, params: DecodingParams) -> list[Detection]:
        """The spans of an encoding at the given parameters, classified but not yet labelled."""
        return self.analyzer._decode_settings(encoding, [params])[0]

    def detect(self, text: str, params: DecodingParams | None = None) -> list[Detection]:
        """Spans found in ``text`` with their technique probabilities, before labelling."""
        return self.decode(self.encode(text), params or self.analyzer.params)

    @property
    def n_channels(self) -> int:
        """Token probabilities per piece: 1 (any technique) for a 0.1 model, else 1 + 14."""
        shape = self.analyzer._session.get_outputs()[0].shape
        return int(shape[-1]) if len(shape) == 3 else 1

    def run_on_one_core(self) -> None:
        """From now on, analyses on the calling thread run the model on one core: for the
        threads of a worker pool that keeps several analyses going at once."""
        self.analyzer._run_on_one_core()

    @property
    def session(self) -> Any:
        """The ONNX Runtime session; benchmarks swap in one made with other options."""
        return self.analyzer._session

    @session.setter
    def session(self, session: Any) -> None:
        self.analyzer._session = session
