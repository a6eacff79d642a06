"""The Faust stream processor: topics, per-child tables, agents, rules and timers."""
