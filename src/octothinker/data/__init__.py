"""Data stage: corpora registry, formatting templates, tokenize + pack, mixtures, decontamination."""
