"""safeguard-stream: multi-agency information sharing for children who may be trafficked.

This package holds the one ``safeguard`` command, the settings every process reads, the error
hierarchy, and the local infrastructure launcher (real Kafka and PostgreSQL, no Docker needed).
"""

__version__ = "0.1.0"
