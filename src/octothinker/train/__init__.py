"""Mid-training engine: LR schedules, the training loop over token shards, Stable-then-Decay stages."""
