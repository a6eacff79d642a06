"""The ground floor every other package stands on: settings, errors, database access, topic
administration and Kafka client configuration. It imports nothing of the project above it
(checked by ``lint-imports``; the contracts are in ``pyproject.toml``)."""
