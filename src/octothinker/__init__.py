"""octothinker: the OctoThinker recipe (arXiv 2506.20512) end to end, from a CPU toy world to GPU clusters."""

__version__ = "0.1.0"
