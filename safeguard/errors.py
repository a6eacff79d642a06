"""One root exception for the project, with one small subclass per area.

Third-party errors are re-raised as ours (``raise CodecError(...) from exc``) so callers catch
``SafeguardError`` and nothing else. ``retriable`` tells a caller whether trying again may help.
"""


class SafeguardError(Exception):
    """Base of every error this project raises on purpose."""

    retriable = False


class ConfigError(SafeguardError):
    """A setting has a value the program cannot use."""


class InfraError(SafeguardError):
    """The local Kafka broker or PostgreSQL cluster could not be set up, started or stopped."""


class MissingToolError(InfraError):
    """A program the launcher needs (Java, Maven, PostgreSQL) is not installed."""


class PortInUseError(InfraError):
    """A port the launcher wants to listen on is already taken by another process."""


class ServiceTimeoutError(InfraError):
    """A service was started but did not answer in time."""

    retriable = True


class ServiceUnavailableError(InfraError):
    """A configured external service does not answer."""

    retriable = True
