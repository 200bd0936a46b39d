"""Component families: one module per kind, declaring everything about it.

A family (``attention``, ``activation``, ``block``, ``shortcut``) is a package whose
``__init__`` is its registry: the kinds it knows, in the order files print them. Each kind
module declares its spec model (the family's spec union is derived from the registry), its
cross-field rules, its typed plan record with parameter and MAC counts, its layer names
(composed through :mod:`resgen.components.naming`), its clause in the description, its weight layout
for :mod:`resgen.weights.transfer`, and the key of the template that prints it in each backend
(``templates/<backend>/attention/<type>.py.j2``, ``blocks/<template>.py.j2``,
``shortcuts/<when>.py.j2``).
"""
