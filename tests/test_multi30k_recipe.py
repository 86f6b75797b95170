"""recipes.multi30k_translation end to end on the first Multi30k pairs: train, package, and the card's
checks (`zoo evaluate --src --ref`) printing the card's BLEU."""

import json

import pytest

from recipes import multi30k_translation as recipe
from recipes.command_line import default_data_dir
from zoo.training import TrainingOptions

DATA_DIR = default_data_dir()


@pytest.fixture
def data_dir(tmp_path):
    """The first pairs of each Multi30k split the recipe reads."""
    if not (DATA_DIR / "multi30k" / "train.de").is_file():
        pytest.skip("Multi30k is not in the data dir")
    folder = tmp_path / "data" / "multi30k"
    folder.mkdir(parents=True)
    for split, count in (("train", 400), ("val", 20), ("test_2016_flickr", 30)):
        for language in ("de", "en"):
            lines = (DATA_DIR / "multi30k" / f"{split}.{language}").read_text(encoding="utf-8").splitlines()
            (folder / f"{split}.{language}").write_text("\n".join(lines[:count]) + "\n", encoding="utf-8")
    return tmp_path / "data"


@pytest.mark.slow
def test_a_tiny_run_trains_packages_and_its_checks_print_its_bleu(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(recipe, "VOCABULARY_SIZES", {"de": 300, "en": 250})
    config = recipe.Config("nmt-tiny", "de", "en", embedding_dim=16, encoder_units=16, encoder_layers=1,
                           decoder_units=16, attention_units=16, batch_size=32, max_epochs=1, beam_size=2)
    recipe.train(config, data_dir, tmp_path / "run", TrainingOptions(max_minutes=5))
    results = recipe.package(config, data_dir, tmp_path / "run", tmp_path / "checkpoints")
    folder = tmp_path / "checkpoints" / "nmt-tiny"
    metadata = json.loads((folder / "metadata.json").read_text())
    quick, test, val = metadata["checks"]
    assert quick["commands"] == ['zoo evaluate nmt-tiny --src "$ZOO_DATA_DIR/multi30k/test_2016_flickr.de" --ref '
                                 '"$ZOO_DATA_DIR/multi30k/test_2016_flickr.en" --beam-size 2 --first 100']
    assert test["prints"][0].startswith(f"sacreBLEU                  {results['test_2016_flickr']['sacrebleu']:.2f}")
    assert val["prints"][0].startswith(f"sacreBLEU                  {results['val']['sacrebleu']:.2f}")
    assert set(metadata["beam_search_seconds"]) == {"val", "test_2016_flickr"}
    card = (folder / "README.md").read_text()
    assert "## Checks" in card and "Not recorded" in card  # no provenance: not started by `zoo train`
