"""From a file to a checked spec and its plan, or located problems: the cross-field
rules and budgets (``rules``) and the front door (``validate``).
"""
