"""Recipes: one module per model family, each builds, trains, evaluates and publishes its named models."""
