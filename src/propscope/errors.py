"""Errors raised by propscope. Every message names the input and what to do about it.

PropscopeError
├── InputError          the input a user gave is unusable
│   ├── EmptyText
│   ├── NotText           binary data, or not decodable with the given encoding
│   ├── MalformedRow      a label file row, with its line number
│   ├── SpanOutOfRange
│   ├── NoArticles        a folder without article<ID>.txt files
│   ├── UnknownTechnique
│   └── FetchError        a URL refused, timed out, failed, or not a page
├── ModelError          a missing or corrupt model folder
└── MissingExtra        an optional dependency is not installed
"""


class PropscopeError(Exception):
    """Base class of every error propscope raises on purpose."""


class InputError(PropscopeError):
    """An input (file, text, label row, span) cannot be used as given."""


class EmptyText(InputError):
    """The text is empty or only whitespace."""


class NotText(InputError):
    """The bytes are binary, or do not decode with the requested encoding."""


class MalformedRow(InputError):
    """A row of a PTC label file does not have the expected shape."""


class SpanOutOfRange(InputError):
    """A span does not lie inside its text."""


class NoArticles(InputError):
    """A folder has no article<ID>.txt files."""


class UnknownTechnique(InputError):
    """A technique id or label is not one of the 14."""


class FetchError(InputError):
    """A URL could not be fetched, or did not give an HTML page."""


class ModelError(PropscopeError):
    """The model folder is missing, incomplete or does not match its checksum."""


class MissingExtra(PropscopeError):
    """An optional dependency is needed for this feature."""
