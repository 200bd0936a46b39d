"""The spec language: what a user writes (``models``), how a file is read (``loader``),
the JSON Schema (``schema``) and the ``pretrained`` section.
"""
