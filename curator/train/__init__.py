"""Training: the epoch loop, checkpoints and resume (see curator.train.run.train)."""
