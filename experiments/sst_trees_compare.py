"""Recursive NN vs Tree-LSTM vs the shipped BiLSTM on SST dev: SST-2 from plain text (all of dev,
and the sentences with a negation or a "but", where word order alone misleads), SST-2 and SST-5 at
the root with gold and with own trees. Writes a markdown table.

    python -m experiments.sst_trees_compare --out docs/sst_trees_comparison.md \
        sentiment-sst2-bilstm runs/sentiment-sst-treelstm/best.keras runs/sentiment-sst-recursive/best.keras
"""

import argparse
from pathlib import Path

import keras
import numpy as np

import zoo
from recipes.command_line import default_data_dir
from zoo.corpora import read_labelled_tsv
from zoo.evaluation import tree_evaluation
from zoo.trees import read_trees

SUBSETS = {
    "all": lambda words: True,
    "with a negation (not, n't, no, never)": lambda words: bool(words & {"not", "n't", "no", "never"}),
    'with "but"': lambda words: "but" in words,
}


def load(spec):
    return keras.saving.load_model(spec, compile=False) if spec.endswith(".keras") else zoo.load(spec, compile=False)


def sst2_rows(model, sentences, labels):
    """{subset: (accuracy, count)} of `model` on the dev sentences read as plain text."""
    predicted = model.classify(sentences)[1].argmax(axis=1)
    rows = {}
    for name, keep in SUBSETS.items():
        chosen = np.array([keep(set(s.lower().split())) for s in sentences])
        rows[name] = (float(np.mean(predicted[chosen] == np.asarray(labels)[chosen])), int(chosen.sum()))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("models", nargs="+", help="shipped names, checkpoint folders or .keras files")
    args = parser.parse_args(argv)
    data = default_data_dir()
    sentences, labels = read_labelled_tsv(data / "sst2" / "dev.tsv")
    dev_trees = read_trees(data / "sst" / "dev.txt")
    header = ["model", "parameters", *[f"SST-2 dev, {name}" for name in SUBSETS],
              "SST-2 root, gold trees", "SST-5 root, gold trees", "SST-5 root, own trees"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for spec in args.models:
        model = load(spec)
        rows = sst2_rows(model, sentences, labels)
        cells = [f"`{spec}`", f"{model.count_params():,}", *[f"{a:.2%} ({n})" for a, n in rows.values()]]
        if hasattr(model, "node_logits"):
            result = tree_evaluation(model, dev_trees)
            cells += [f"{result['gold']['sst2_root']:.2%}", f"{result['gold']['sst5_root']:.2%}",
                      f"{result['own']['sst5_root']:.2%}"]
        else:
            cells += ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
