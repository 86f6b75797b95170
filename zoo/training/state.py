"""What training changes, in one order: what a rollback restores and a checkpoint holds."""


def state_variables(model):
    """The model's variables (weights, random-seed states, carried states) and its optimizer's."""
    return list(model.variables) + list(model.optimizer.variables)
