"""`octothinker probe`: measure a base model's RL readiness (reward signal GRPO would get) before any RL."""
