"""The plan: every number, name and decision a spec implies, as frozen types (``network``),
derived in named steps (``planner``) from the per-stage facts (``stages``); ``summary``
prints its table.
"""
