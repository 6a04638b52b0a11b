"""Errors a user can act on. The CLI, server and UIs show their message, never a traceback."""


class LLMEcoError(Exception):
    """Base class: the message is written for the user and says what to do."""


class ConfigError(LLMEcoError):
    pass


class UnknownModelError(LLMEcoError):
    pass


class ModelNotAvailableError(LLMEcoError):
    pass


class ModelLoadError(LLMEcoError):
    """A model that exists but cannot be loaded (corrupt weights, a missing package); ``model`` names it when
    the loader knows it (the server lists these failures on /health)."""

    model: str | None = None


class DiskFullError(LLMEcoError):
    """A write found no space (or hit a file-size limit); what was half-written has been removed."""


class InvalidRequestError(LLMEcoError):
    """``param`` names the request field at fault (the server returns it in OpenAI's error shape)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class EngineBusyError(LLMEcoError):
    pass
