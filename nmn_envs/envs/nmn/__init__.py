"""The three benchmarks of the NMN paper (Vecoven et al. 2020) and the arena of Bench2/3."""
