"""`zoo diagnose`: the flags, and the command (the whole report, or one run to try)."""

from pathlib import Path

from zoo.long_range.report import QUICK_PLAN, Plan, run_report
from zoo.long_range.runs import METRIC_NAMES, Config, train


def add_arguments(parser):
    parser.add_argument("--minutes-per-run", type=float, default=None,
                        help="training budget of each run (default: 3; 0.05 with --quick)")
    parser.add_argument("--output", type=Path, default=Path("docs/diagnostics"),
                        help="folder for report.md, the PNG plots and results.json")
    parser.add_argument("--quick", action="store_true", help="tiny models and gaps: a smoke test in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single", nargs=3, metavar=("TASK", "CELL", "GAP"), default=None,
                        help="train one run (e.g. adding lstm 100) with the report's settings, print how it "
                             "went, and write nothing: to try a budget before the whole report")
    return parser


def add_diagnose_parser(commands):
    """Adds `zoo diagnose` to the CLI's subparsers (`commands`, from `add_subparsers`)."""
    help_text = diagnose_command.__doc__
    parser = commands.add_parser("diagnose", help=help_text, description=help_text)
    add_arguments(parser)
    parser.set_defaults(run=diagnose_command)
    return parser


def diagnose_command(args):
    """Trains Elman, GRU and LSTM on long-range and counting tasks and writes a report with plots."""
    minutes = args.minutes_per_run if args.minutes_per_run is not None else (0.05 if args.quick else 3.0)
    if args.single:
        task, cell, gap = args.single
        plan = QUICK_PLAN if args.quick else Plan()
        units = plan.counting_units if task == "counting" else plan.units
        config = Config(task, cell, int(gap), units=units, batch_size=plan.batch_size,
                        steps_per_round=plan.steps_per_round, validation_size=plan.validation_size,
                        max_steps=plan.max_steps, seed=args.seed)
        result = train(config, minutes * 60)
        for row in result["history"]:
            print(f"step {row['step']:6d}  {row['seconds']:7.1f} s  loss {row['loss']:.4g}  "
                  f"validation {row['val_loss']:.4g}  {METRIC_NAMES[task]} {row['metric']:.4g}")
        if task == "counting":
            print(f"counts up to n = {result['counting_test']['counts_up_to']}")
        return 0
    run_report(args.output, minutes, quick=args.quick, seed=args.seed)
    return 0
