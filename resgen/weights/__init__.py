"""Weights: between the generated PyTorch and Keras models (``transfer``), strict checkpoint
files (``checkpoint``), other libraries' names (``dialects``, ``adapt``) and ``resgen convert``
(``convert``).
"""
