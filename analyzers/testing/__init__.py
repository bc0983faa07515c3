"""Builders of random-weight test models and test analyzers; the product never imports this."""
