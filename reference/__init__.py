"""The NumPy reference: pure functions in float64 that state what each behaviour should produce, and step
models of each layer built on them (``reference.models``).

No framework is imported here. Every function's docstring gives its formula.
"""
