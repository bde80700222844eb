"""Benchmark: labelling new reviews with a saved classifier, against a naive one-review-at-a-time loop.

Both contenders load the same saved artifact (lib/saved_classifier.py) and return the same labels and
P(positive); only how they feed it differs.

- TF-IDF (the saved NB pipeline, fit on the embedded sample's labelled reviews):
  - project: `predictions.predict_frame`, which `augment-assets predict` and `review_predictions` run: chunks of
    2,048 reviews, one TF-IDF transform per chunk for both the label and the probability;
  - naive: `saved.score([text])` for each review.
- embedding (the saved head on the embedded model's mean-pooled hidden states):
  - project: the same `predict_frame`, whose vectors come from `embedding.embed_texts` (length-sorted
    batches, the inference dtype), into a fresh cache folder so nothing is reused;
  - naive: the same model loaded once, one forward per review in float32, then the saved head.
  Model loading is timed for the project (it loads inside `score`) and not for the naive loop.

The reviews are the embedded sample's texts (data/sample), repeated to the size asked for.

Usage:
    python bench/predict.py            # 50,000 reviews (TF-IDF), 1,000 (embedding; naive on 100)
    python bench/predict.py --quick    # < 2 min: 10,000 and 160 (naive on 16)
The last line is `ratio: X` (project / naive, TF-IDF reviews per second); the embedding's ratio is printed above.
Target (issue #23): the TF-IDF classifier at least 5,000 reviews/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from augment_assets.lib.classify import encode_labels  # noqa: E402
from augment_assets.lib.predictions import predict_frame  # noqa: E402
from augment_assets.lib.reviews import label_reviews  # noqa: E402
from augment_assets.lib.saved_classifier import (  # noqa: E402
    ModelAccess,
    artifact_of,
    fit_configuration,
    load_classifier,
    save_artifact,
)

SAMPLE = REPO / "data" / "sample" / "yelp_academic_dataset_review.json"


def sample_reviews() -> pd.DataFrame:
    reviews, _, _ = label_reviews(pd.read_json(SAMPLE, lines=True))
    return reviews


def repeated(texts: list[str], n: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(n)]


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    out = function()
    return time.perf_counter() - started, out


def tfidf(reviews: pd.DataFrame, n: int, folder: Path) -> float:
    hyperparameters = json.dumps({"alpha": 0.3, "ngram_range": [1, 2], "sublinear_tf": True})
    estimator = fit_configuration("nb", hyperparameters, reviews["text"], encode_labels(reviews["sentiment"]))
    saved = load_classifier(save_artifact(artifact_of(estimator, "nb", hyperparameters), folder, "all", ""))
    texts = repeated(reviews["text"].tolist(), n)
    naive_n = min(n, 2_000)  # the naive loop on a prefix: its rate does not depend on how many
    project_s, (labels, p) = timed(lambda: predict_frame(saved, texts))
    naive_s, naive_out = timed(lambda: [saved.score([t]) for t in texts[:naive_n]])
    assert list(labels[:naive_n]) == [o[0][0] for o in naive_out]
    np.testing.assert_allclose(p[:naive_n], [o[1][0] for o in naive_out], rtol=1e-9)
    project, naive = n / project_s, naive_n / naive_s
    print(f"TF-IDF + NB   project {project:10,.0f} reviews/s ({n:,} in {project_s:.2f} s)")
    print(f"TF-IDF + NB   naive   {naive:10,.0f} reviews/s ({naive_n:,} in {naive_s:.2f} s)")
    print(f"TF-IDF target 5,000 reviews/s: {'met' if project >= 5_000 else 'NOT met'}")
    return project / naive


def embedding(reviews: pd.DataFrame, n: int, naive_n: int, folder: Path) -> float:
    import torch

    from augment_assets.lib.embedding_fits import EmbeddingConfig
    from augment_assets.lib.model import EMBEDDED_MODEL, choose_device_dtype, load_model, resolve_base_model

    path, info = resolve_base_model(EMBEDDED_MODEL, REPO / "data" / "models")
    config = EmbeddingConfig()
    _, dtype = choose_device_dtype("cpu")
    # the head, fit on the labelled reviews' vectors (cached in its own folder, outside the timing)
    access = ModelAccess(info["base_model"], Path(path), folder / "fit", "cpu")
    model_section = {"base_model": info["base_model"], "max_tokens": config.max_tokens}
    hyperparameters = json.dumps({"C": 0.01})
    estimator = fit_configuration(
        "embedding",
        hyperparameters,
        reviews["text"],
        encode_labels(reviews["sentiment"]),
        embeddings=access.embeddings(model_section),
    )
    artifact = artifact_of(estimator, "embedding", hyperparameters, **model_section)
    saved = load_classifier(save_artifact(artifact, folder / "classifiers", "all", ""))
    fresh = ModelAccess(info["base_model"], Path(path), folder / "fresh", "cpu")  # nothing cached: all computed
    saved.features = fresh.features_of(saved.model)
    texts = [f"{t} ({i})" for i, t in enumerate(repeated(reviews["text"].tolist(), n))]  # distinct: no dedup
    naive_n = min(n, naive_n)
    project_s, _ = timed(lambda: predict_frame(saved, texts))
    model, tokenizer = load_model(path, "cpu", torch.float32)

    @torch.inference_mode()
    def one_at_a_time():
        out = []
        for text in texts[:naive_n]:
            ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][: config.max_tokens]])
            vector = model.model(input_ids=ids).last_hidden_state.mean(dim=1).float().numpy()
            out.append(saved.pipeline.predict_proba(vector)[0, 1])
        return out

    naive_s, naive_p = timed(one_at_a_time)
    agree = np.mean((np.array(naive_p) > 0.5) == (saved.p_positive(texts[:naive_n]) > 0.5))
    project, naive = n / project_s, naive_n / naive_s
    print(
        f"embedding     project {project:10,.1f} reviews/s ({n:,} in {project_s:.1f} s, {dtype}, model load included)"
    )
    print(f"embedding     naive   {naive:10,.1f} reviews/s ({naive_n:,} in {naive_s:.1f} s, float32, one at a time)")
    print(f"embedding     labels agree with the naive float32 loop on {100 * agree:.0f}% of reviews")
    return project / naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reviews", type=int, help="TF-IDF reviews to label")
    parser.add_argument("--embedding-reviews", type=int, help="embedding reviews to label")
    args = parser.parse_args()
    n = args.reviews or (10_000 if args.quick else 50_000)
    n_embedding = args.embedding_reviews or (160 if args.quick else 1_000)
    reviews = sample_reviews()
    with tempfile.TemporaryDirectory() as tmp:
        # the head is fit on fewer reviews with --quick: embedding them is not what is timed
        fit_on = reviews.groupby("sentiment").head(60) if args.quick else reviews
        embedding_ratio = embedding(fit_on, n_embedding, 16 if args.quick else 100, Path(tmp) / "embedding")
        print(f"embedding ratio: {embedding_ratio:.1f}")
        ratio = tfidf(reviews, n, Path(tmp) / "tfidf")
    print(f"ratio: {ratio:.1f}")


if __name__ == "__main__":
    main()
