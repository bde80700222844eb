"""Label reviews with a saved classifier, from Python or from the command line.

    from augment_assets.predict import load
    classifier = load()                      # the largest data size's current classifier (classifier_registry)
    classifier = load(data_size="50")        # or one data size's, or load("data/classifiers/all/<version>")
    labels, p_positive = classifier.score(["Great crust.", "Cold and soggy."])

`augment-assets predict FILE.csv [-o OUT.csv] [--data-size SIZE]` does the same for a CSV with a `text` column.
The settings are the environment's, as for `augment-assets materialize`: AUGMENT_WAREHOUSE (where the registry
is), BASE_MODEL, AUGMENT_MODELS_DIR and AUGMENT_WORK_DIR (for the embedding and generative classifiers).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.predictions import choose_saved, predict_frame
from augment_assets.lib.saved_classifier import ASSET, ModelAccess, SavedClassifier, load_classifier
from augment_assets.lib.texts_csv import read_texts_csv
from augment_assets.lib.warehouse import DEFAULT_WAREHOUSE, Warehouse


def model_access(progress=None) -> ModelAccess:
    """Where the language models are, from the environment (the same settings as the asset graph's)."""
    from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model

    path, info = resolve_base_model(
        os.environ.get("BASE_MODEL") or EMBEDDED_MODEL, Path(os.environ.get("AUGMENT_MODELS_DIR") or "data/models")
    )
    return ModelAccess(
        info["base_model"], Path(path), Path(os.environ.get("AUGMENT_WORK_DIR") or "data/work"), progress=progress
    )


def saved_path(data_size: str | None = None, warehouse: str | os.PathLike | None = None) -> Path:
    """The folder of the registry's current classifier at `data_size` (default: the largest data size)."""
    store = Warehouse(warehouse or os.environ.get("AUGMENT_WAREHOUSE") or DEFAULT_WAREHOUSE)
    if not store.path.exists() or not store.has_table("classifier_registry"):
        raise InputError(
            f"No classifier_registry in {store.path}: materialize {ASSET} first (`augment-assets materialize`), "
            "or set AUGMENT_WAREHOUSE to the warehouse that has it."
        )
    return Path(choose_saved(store.read_table("classifier_registry"), data_size)["path"])


def load(
    path_or_none: str | os.PathLike | None = None, data_size: str | None = None, warehouse=None
) -> SavedClassifier:
    """A saved classifier, ready to label texts: from its folder, or the registry's current one at `data_size`."""
    path = Path(path_or_none) if path_or_none is not None else saved_path(data_size, warehouse)
    saved = load_classifier(path)  # checked before any language model is touched
    if saved.classifier in ("embedding", "generative"):
        saved.features = model_access().features_of(saved.model)
    return saved


def predict_csv(path: str | os.PathLike, out: str | None, data_size: str | None = None) -> pd.DataFrame:
    """Label a CSV (`augment-assets predict`): the rows with their label, P(positive) and the classifier version,
    written to `out` (a path, or "-" for standard output)."""
    from tqdm import tqdm

    reviews = read_texts_csv(path)  # checked before the classifier loads: a bad file costs nothing
    classifier = load(data_size=data_size)
    print(
        f"labelling {len(reviews)} reviews of {path} with {classifier.classifier} {classifier.version} "
        f"({classifier.data_size} data)",
        file=sys.stderr,
    )
    with tqdm(total=len(reviews), desc="predict", unit="review", file=sys.stderr) as bar:
        labels, p = predict_frame(classifier, reviews["text"].astype(str).tolist(), bar.update)
    frame = reviews.assign(
        predicted_sentiment=labels,
        p_positive=p,
        classifier_version=classifier.version,
        data_size=classifier.data_size,
    )
    if out == "-":
        frame.to_csv(sys.stdout, index=False)
    else:
        target = Path(out) if out else Path(path).with_name(Path(path).stem + "_predictions.csv")
        partial = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        frame.to_csv(partial, index=False)
        os.replace(partial, target)
        print(f"wrote {len(frame)} predictions to {target}", file=sys.stderr)
    return frame
