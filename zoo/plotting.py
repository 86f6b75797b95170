"""Plots a person would rather look at than read."""

from pathlib import Path


def plot_attention(weights, source_tokens, target_tokens, path, title=None):
    """Draws an alignment heatmap: a row per output token, a column per source token.

    Args:
        weights: (T, S) attention weights (rows sum to 1).
        source_tokens: S labels of the columns (the source subwords).
        target_tokens: T labels of the rows (the output subwords, `<eos>` included).
        path: the PNG to write.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = len(target_tokens), len(source_tokens)
    if tuple(weights.shape) != (rows, columns):
        raise ValueError(f"plot_attention: weights of shape {tuple(weights.shape)} for {rows} target and "
                         f"{columns} source tokens")
    figure, axes = plt.subplots(figsize=(1.2 + 0.42 * columns, 1.0 + 0.36 * rows))
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns), source_tokens, rotation=70, ha="right", rotation_mode="anchor")
    axes.set_yticks(range(rows), target_tokens)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if title:
        axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02, label="attention weight")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path
