"""One root exception for the project, with one small subclass per area.

Third-party errors are re-raised as ours (``raise CodecError(...) from exc``) so callers catch
``SafeguardError`` and nothing else. ``retriable`` tells a caller whether trying again may help.
"""

#: The exit code of a long-running process (worker, alert store) that stops itself for a fault
#: that is not about one record, after its retries: a supervisor starts it again.
EXIT_FAULT = 70


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


class SchemaError(SafeguardError):
    """A schema file or the indicator catalogue is malformed or inconsistent."""


class CompatibilityError(SchemaError):
    """Two versions of one event's schema cannot read each other's data."""


class CodecError(SafeguardError):
    """Bytes could not be encoded or decoded as an event."""


class InvalidRecordError(CodecError):
    """A record does not match its schema; the message names the field and the value."""

    def __init__(self, message: str, *, field: str = "", value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class FutureEventError(InvalidRecordError):
    """An event dated after it was reported, or after now, by more than the tolerance: a typing
    error, never evidence (it would move the child's clock and expire real evidence)."""


class TooOldError(InvalidRecordError):
    """An event older than the look-back: it can no longer count towards an alert."""


class NotSingleObjectError(CodecError):
    """The bytes do not start with the Avro single-object marker C3 01 and a fingerprint."""


class UnknownFingerprintError(CodecError):
    """The writer schema's fingerprint matches no schema version in schemas/."""


class WrongEventError(CodecError):
    """The bytes hold a different event than the one this codec reads."""


class TruncatedBodyError(CodecError):
    """The Avro body ends before the record does."""


class CorruptBodyError(CodecError):
    """The Avro body is not a valid encoding of its writer schema."""


class UnknownIndicatorError(InvalidRecordError):
    """An observation names an indicator code the catalogue does not hold."""
