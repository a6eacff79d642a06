"""The worker's domain: a child's state, the rules and the alert lifecycle, as plain Python.

Nothing here imports Faust, Kafka or any I/O (``lint-imports`` checks it): each step takes a
state and an event and says what to publish, so every rule is tested as a function.
"""
