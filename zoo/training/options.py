"""`TrainingOptions`: how a run trains, apart from its model's config."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How a recipe trains, apart from its model config (a recipe's command-line flags)."""

    max_minutes: float = 60.0  # stop before the epoch that would end past this much training (over resumes)
    resume: bool = False  # continue from the newest checkpoint of the run folder
    checkpoint_every: int = 500  # steps between checkpoints (and one at every epoch end)
    global_clipnorm: float | None = None  # clip the gradients to this global norm (None: as the recipe's config)
    clipvalue: float | None = None  # clip each gradient element to [-clipvalue, clipvalue] (None: as the config)


def apply_clipping(optimizer, options):
    """Sets the optimizer's gradient clipping from `options` where given: by global norm (all gradients
    together) and/or element-wise. A config's per-variable `clipnorm` and a global norm exclude each other."""
    if options.global_clipnorm is not None:
        if optimizer.clipnorm is not None:
            raise ValueError(f"--global-clipnorm {options.global_clipnorm}: this recipe's optimizer clips each "
                             f"gradient to norm {optimizer.clipnorm} already; the two cannot be combined")
        optimizer.global_clipnorm = options.global_clipnorm
    if options.clipvalue is not None:
        optimizer.clipvalue = options.clipvalue
