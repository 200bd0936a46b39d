"""From a plan to files: what a file prints around the network (``page``, ``describe``,
``backbone``, ``layout``), the templates (``render``), the files on disk (``build``) and one
spec's file as ``build`` writes it (``generated``).
"""
