"""askpapers: cited, grounding-checked answers over research-paper abstracts.

The public Python API (``search``, ``ask``) is added by the ask issue; this package
also holds the settings and the command line, which every other package shares.
"""
