"""R1-Zero RL engine: GRPO-family losses, verifiable rewards, rollouts, trainer, verl export."""
