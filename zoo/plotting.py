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


SENTIMENT_COLOURS = ("#b2182b", "#ef8a62", "#bababa", "#67a9cf", "#2166ac")  # SST's 0 (very negative) .. 4


def plot_tree(tree, path, title=None):
    """Draws a labelled binary tree (`zoo.trees.Tree`, labels 0-4): the words along the bottom, each
    node a dot coloured by its sentiment label above the middle of its children, higher for deeper
    subtrees. Returns `path` (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    placed, edges, words = [], [], []

    def place(node):  # -> (x, height)
        if node.word is not None:
            words.append(node.word)
            x, height = len(words) - 1, 0
        else:
            (left_x, left_h), (right_x, right_h) = place(node.children[0]), place(node.children[1])
            x, height = (left_x + right_x) / 2, 1 + max(left_h, right_h)
            edges.extend([((x, height), (left_x, left_h)), ((x, height), (right_x, right_h))])
        placed.append((x, height, node.label))
        return x, height

    place(tree)
    top = max(height for _, height, _ in placed)
    figure, axes = plt.subplots(figsize=(1.0 + 0.62 * len(words), 1.2 + 0.32 * top))
    for (x0, y0), (x1, y1) in edges:
        axes.plot([x0, x1], [y0, y1], color="#999999", linewidth=0.8, zorder=1)
    for x, height, label in placed:
        axes.scatter([x], [height], s=110, color=SENTIMENT_COLOURS[label], edgecolors="black", linewidths=0.4,
                     zorder=2)
        axes.annotate(str(label), (x, height), ha="center", va="center", fontsize=6, zorder=3)
    axes.set_xticks(range(len(words)), words, rotation=40, ha="right", rotation_mode="anchor")
    axes.set_yticks([])
    axes.set_ylim(-0.6, top + 0.6)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return path
