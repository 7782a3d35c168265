"""One hierarchy for everything Tidings raises on purpose.

``UserFacingError`` carries the one sentence a chat user sees; everything else is logged
with its traceback and the user gets a generic polite sentence.
"""

from __future__ import annotations


class TidingsError(Exception):
    """Base of every error Tidings raises on purpose."""


class ConfigError(TidingsError):
    """A setting is wrong; the message names the setting and says how to fix it."""


class LoaderError(TidingsError):
    """A file could not be read; ingest reports it and skips the file."""


class ModelError(TidingsError):
    """The language model or the embedder could not be loaded or failed to run."""


class KnowledgeBaseError(TidingsError):
    """The knowledge base could not be opened, read or written."""


class UserFacingError(TidingsError):
    """An error whose message is fit to show to the person who asked."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class RateLimited(UserFacingError):
    """The asker sent too many questions too quickly."""


class NotAllowed(UserFacingError):
    """The asker, channel or role is not on the configured allow-list."""


class EmptyQuestion(UserFacingError):
    """Nothing left to answer once mentions and whitespace are removed."""


class QuestionTooLong(UserFacingError):
    """The question is longer than ``[access] max_question_chars``."""


GENERIC_APOLOGY = "Sorry, something went wrong while answering. The details are in the bot's log."
