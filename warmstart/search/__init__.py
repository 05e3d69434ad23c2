"""Search: budgets, hyperparameter spaces, warm starts, the tuning runner, and architecture search.

Every search is an Optuna study; new methods are Optuna samplers or study drivers.
"""
