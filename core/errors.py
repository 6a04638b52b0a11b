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
    pass


class InvalidRequestError(LLMEcoError):
    pass


class EngineBusyError(LLMEcoError):
    pass
