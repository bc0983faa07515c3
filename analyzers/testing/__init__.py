"""Random-weight test models, synthetic test clips and a hanging analyzer; no product import."""
