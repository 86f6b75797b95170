"""Long-range memory and counting tasks that show why gates matter, and the report they make.

Tasks (data generated fresh every round from a seeded NumPy generator):

- adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 and Arjovsky et
  al. 2016): T steps of two channels, a value in U(0, 1) and a marker that is 1 at two steps (one in
  each half); the target is the sum of the two marked values. Predicting the mean (1.0) scores a
  mean squared error of Var = 2/12 = 0.167; "solved" is below 0.01. The gap is T.
- copy memory (Arjovsky et al. 2016): 10 symbols from {1..8}, T-1 blanks (0), a delimiter (9) and 10
  blanks; the model must output blanks until the delimiter and then the 10 symbols. Blanks then a
  uniform guess score a cross-entropy of 10 log(8) / (T + 20) per step; "solved" is 99% of the 10
  recalled symbols right. The gap is T.
- counting a^n b^n (Weiss et al. 2018): read a^n b^n and say, at every step, whether the string can
  end there (1 exactly at the n-th b): the model must count. Trained on n <= N (padded and masked),
  tested on every n up to 4N: the largest n up to which every string is right is how far it counts.

Models: zoo SimpleRNN (Elman), GRU or LSTM -> Dense, trained with `model.fit` under a wall-clock
budget per run, stopping early once solved.

    zoo diagnose --minutes-per-run 3 --output docs/diagnostics   # the report
    zoo diagnose --single adding lstm 100 --minutes-per-run 3    # one run, to try
    zoo diagnose --quick --output /tmp/diagnostics               # seconds

The report (`report.md`, PNG plots, `results.json`) gives the largest gap each cell solves within
the same budget; the gradient norm ||dL/dh_j|| against distance for Elman, GRU and LSTM at
initialisation and after training; accuracy against gap; and the ablations: LSTM forget-gate bias 1
vs 0, orthogonal vs Glorot recurrent initialisation (Elman), and gradient clipping vs none on an
Elman RNN whose recurrent matrix is scaled to spectral radius > 1 and trained with SGD.

Modules: tasks.py (the data), runs.py (one run: config, model, training), report.py (every run of
the report, report.md, results.json), plots.py, command.py (`zoo diagnose`). Only NumPy is imported
at the top, so `add_diagnose_parser` is cheap to call from a CLI.
"""

from zoo.long_range.command import add_diagnose_parser, diagnose_command
from zoo.long_range.report import QUICK_PLAN, Plan, run_report
from zoo.long_range.runs import Config, build_model, evaluate, is_solved, train, training_data
from zoo.long_range.tasks import (ADDING_BASELINE, COPY_VOCABULARY, adding_problem, copy_baseline, copy_memory,
                                  counting_strings, counting_task, one_hot)

__all__ = [
    "add_diagnose_parser", "diagnose_command", "QUICK_PLAN", "Plan", "run_report", "Config", "build_model",
    "evaluate", "is_solved", "train", "training_data", "ADDING_BASELINE", "COPY_VOCABULARY", "adding_problem",
    "copy_baseline", "copy_memory", "counting_strings", "counting_task", "one_hot",
]
