"""The embedding classifier's reading length, cross-validated over a warehouse's training reviews (5 shuffles of
stratified 5-fold), and the holdout read after, for the record (docs/results.md, "What truncation costs the
embedding classifier").

    .venv/bin/python scripts/embedding_length_cv.py data/warehouse.duckdb [--lengths 64,256]
"""

import argparse

import duckdb
import numpy as np
from sklearn.model_selection import StratifiedKFold

from augment_assets.lib.embedding import embed_texts
from augment_assets.lib.embedding_fits import EmbeddingConfig, make_embedding_classifier
from augment_assets.lib.model import choose_device_dtype


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("warehouse")
    parser.add_argument("--lengths", default="64,256")
    parser.add_argument("--model", default="data/models/base/smollm2-135m-instruct")
    parser.add_argument("--cache", default="data/work/review_embeddings")
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    train = con.sql("select text, sentiment from training_reviews").df()
    holdout = con.sql("select text, sentiment from holdout_reviews").df()
    device, dtype = choose_device_dtype("auto")
    y = (train["sentiment"] == "positive").to_numpy().astype(int)
    y_holdout = (holdout["sentiment"] == "positive").to_numpy().astype(int)
    for length in (int(x) for x in args.lengths.split(",")):
        texts = list(train["text"]) + list(holdout["text"])
        vectors = embed_texts(
            texts, "embedded:smollm2-135m-instruct", args.model, args.cache, device, dtype, EmbeddingConfig(length)
        )
        X, X_holdout = vectors.matrix(list(train["text"])), vectors.matrix(list(holdout["text"]))
        for C in (None, 0.01):
            scores = []
            for shuffle in range(5):
                right = np.zeros(len(y))
                for fit, held in StratifiedKFold(5, shuffle=True, random_state=shuffle).split(X, y):
                    right[held] = make_embedding_classifier(C).fit(X[fit], y[fit]).predict(X[held]) == y[held]
                scores.append(right.mean())
            model = make_embedding_classifier(C).fit(X, y)
            print(
                f"{length} tokens, C={C or 'default'}: cross-validated {np.mean(scores):.3f}, "
                f"holdout {np.mean(model.predict(X_holdout) == y_holdout):.3f}"
            )


if __name__ == "__main__":
    main()
