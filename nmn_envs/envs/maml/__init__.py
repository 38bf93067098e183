"""Tasks of the gradient-based meta-RL line (MAML and successors): 2D navigation, HalfCheetah."""
