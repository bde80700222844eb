"""The classifier a team takes away: the recommendation's configuration, refit as the evaluation refits it,
saved as a versioned artifact in a safe format, and loaded back to label new reviews.

An artifact is one folder, `<root>/<data size>/<version>/`:

- `model.skops`: the fitted scikit-learn pipeline (TF-IDF + NB or LR), or the embedding classifier's fitted
  head (scaler + logistic regression), written with skops (no pickle: loading runs no code) and made
  byte-for-byte reproducible, so the same fit always has the same version;
- `classifier.json`: what the model is (`model`: classifier, hyperparameters, the base model or the generator
  pair it reads through, the threshold) and its card (`card`: training set, counts, accuracy, verdict, code);
- `MODEL_CARD.md`: the card for people.

The version is the SHA-256 of `model.skops` and of the `model` section: the asset's DataVersion. The generative
classifier has no weights of its own: its artifact is its generator versions and threshold.

Loading checks everything before predicting: the folder, the format version, the scikit-learn version it was
fit with, the hash, and the types skops would build. Each failure is an `InputError` naming the asset to
re-materialize. The embedding and generative classifiers read their texts through a language model; those
are loaded only when they predict (this module itself imports no torch).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classifiers import CLASSIFIER_SPECS
from .classify import LABELS
from .errors import InputError

FORMAT_VERSION = 1  # raise when the folder's layout or the `model` section changes meaning
MODEL_FILE, SPEC_FILE, CARD_FILE = "model.skops", "classifier.json", "MODEL_CARD.md"
ASSET = "sentiment_classifier"  # the asset that writes artifacts: what every load error says to re-materialize
# skops builds only these types on load (anything else in a file is refused): the pipelines we save
TRUSTED_TYPES = (
    "sklearn.pipeline.Pipeline",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.naive_bayes.MultinomialNB",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.preprocessing._data.StandardScaler",
)


def sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# ---------------------------------------------------------------- a reproducible skops file

_ID = re.compile(r'("__id__": )(\d+)|"(\d+)\.npy"')


def reproducible_skops(obj) -> bytes:
    """skops bytes of `obj` that depend on the fitted object alone.

    skops names each array file and memo entry by the Python object's `id()` and stamps the zip with the time,
    so two saves of one model differ (and a fitted TF-IDF vectorizer holds one more address, dropped here). Here
    the ids are renumbered in their order of first appearance in the
    schema (consistently in the schema and the file names, so `skops.io.loads` reads it as before) and every
    entry gets the same timestamp. `test_takeaway.py` checks two fits give the same bytes and load back.
    """
    import skops.io as sio

    for step in getattr(obj, "steps", [(None, obj)]):
        # TF-IDF keeps id(stop_words) to skip re-checking them: a memory address that differs between processes;
        # without it the next transform checks them again (nothing, with the default stop_words=None) and sets it
        if hasattr(step[1], "_stop_words_id"):
            del step[1]._stop_words_id
    original = zipfile.ZipFile(io.BytesIO(sio.dumps(obj)))
    schema = original.read("schema.json").decode()
    order: dict[str, str] = {}
    for match in _ID.finditer(schema):
        number = match.group(2) or match.group(3)
        order.setdefault(number, str(len(order)))

    def renumber(match: re.Match) -> str:
        if match.group(2):
            return f"{match.group(1)}{order[match.group(2)]}"
        return f'"{order[match.group(3)]}.npy"'

    members = {"schema.json": _ID.sub(renumber, schema).encode()}
    for name in original.namelist():
        if name != "schema.json":
            stem, dot, suffix = name.partition(".")
            members[f"{order.get(stem, stem)}{dot}{suffix}"] = original.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, members[name])
    return out.getvalue()


# ---------------------------------------------------------------- the recommendation's configuration, refit


def configuration(classifier: str, hyperparameters: str) -> tuple[float | None, dict]:
    """(the classifier's parameter, TF-IDF options) from the JSON the tables show (`Grid.hyperparameters`);
    "default" is the library default (None)."""
    spec = CLASSIFIER_SPECS[classifier]
    values = json.loads(hyperparameters)
    param = values.get(spec.param, "default")
    options = {}
    if spec.tfidf:
        options = {
            "ngram_range": tuple(values.get("ngram_range", (1, 1))),
            "sublinear_tf": bool(values.get("sublinear_tf", False)),
        }
    return (None if param == "default" else float(param)), options


def fit_configuration(classifier: str, hyperparameters: str, texts, labels, weights=None, **resources):
    """The estimator at this configuration, fit on these texts (labels 0/1) as the evaluation refits it."""
    param, options = configuration(classifier, hyperparameters)
    estimator = CLASSIFIER_SPECS[classifier].make(param, options, **resources)
    return estimator.fit(list(texts), np.asarray(labels), sample_weight=weights)


# ---------------------------------------------------------------- the artifact


@dataclass
class Artifact:
    """What is saved: `model` says what the classifier is, `card` what it was fit on and how it scored."""

    model: dict
    card: dict = field(default_factory=dict)
    weights: bytes | None = None  # model.skops

    @property
    def version(self) -> str:
        digest = hashlib.sha256(json.dumps(self.model, sort_keys=True).encode())
        digest.update(self.weights or b"")
        return digest.hexdigest()[:16]


def artifact_of(estimator, classifier: str, hyperparameters: str, **model) -> Artifact:
    """The artifact of a fitted estimator. `model` adds what it reads through: `base_model` and `max_tokens`
    (embedding), `generators` and `max_review_tokens` (generative)."""
    section = {
        "format_version": FORMAT_VERSION,
        "classifier": classifier,
        "estimator": type(estimator).__name__,
        "hyperparameters": json.loads(hyperparameters),
        "sklearn_version": _minor(sklearn_version()),
        **model,
    }
    if classifier == "generative":
        calibration = estimator.calibration_
        section["threshold"] = float(estimator.threshold_)
        section["calibration"] = {
            "slope": calibration.slope,
            "intercept": calibration.intercept,
            "spread": calibration.spread,
        }
        return Artifact(section)
    return Artifact(section, weights=reproducible_skops(estimator.model_))


def save_artifact(artifact: Artifact, root: Path | str, data_size: str, card_markdown: str) -> Path:
    """Write the artifact's folder under `root/<data size>/<version>/` and return it. Written beside and renamed:
    a reader never finds half a folder; an existing folder of the same version is replaced."""
    folder = Path(root) / str(data_size) / artifact.version
    partial = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if artifact.weights is not None:
        (partial / MODEL_FILE).write_bytes(artifact.weights)
    spec = {"version": artifact.version, "model": artifact.model, "card": artifact.card}
    (partial / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True, default=str) + "\n")
    (partial / CARD_FILE).write_text(card_markdown)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return folder


# ---------------------------------------------------------------- loading and predicting

Features = Callable[[list[str]], np.ndarray]


@dataclass
class SavedClassifier:
    """A loaded artifact. `p_positive(texts)` and `predict(texts)` label reviews; the embedding and generative
    classifiers read texts through `features` (set by `load_classifier` from the language model settings)."""

    path: Path
    version: str
    model: dict
    card: dict
    pipeline: object | None = None  # the skops-loaded scikit-learn pipeline (None: generative)
    features: Features | None = None

    @property
    def classifier(self) -> str:
        return self.model["classifier"]

    @property
    def data_size(self) -> str:
        return str(self.card.get("data_size", self.path.parent.name))

    def score(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """("negative"/"positive", P(positive)) of each text; the label as the evaluation decides it (the fitted
        model's `predict`, the generative threshold rule), each text read once."""
        texts = [str(t) for t in texts]
        if not texts:
            return np.array([], dtype=object), np.zeros(0)
        if self.classifier == "generative":
            from .generative_margins import Calibration, predict

            margins = self._features(texts)
            labels = predict(margins, self.model["threshold"])
            p = Calibration(**self.model["calibration"]).p_positive(margins)
        else:
            inputs = self._features(texts) if self.classifier == "embedding" else texts
            features = self.pipeline[:-1].transform(inputs)  # once for both the label and the probability
            final = self.pipeline[-1]
            labels = final.predict(features)
            p = final.predict_proba(features)[:, list(final.classes_).index(1)]
        return np.array(LABELS, dtype=object)[np.asarray(labels, dtype=int)], np.asarray(p, dtype=float)

    def predict(self, texts) -> np.ndarray:
        """ "negative" / "positive" per text."""
        return self.score(texts)[0]

    def p_positive(self, texts) -> np.ndarray:
        return self.score(texts)[1]

    def _features(self, texts: list[str]) -> np.ndarray:
        if self.features is None:
            raise InputError(
                f"classifier {self.version} ({self.classifier}) reads reviews through a language model: load it with "
                "load_classifier(path, language_model=...) or `augment-assets predict`"
            )
        return self.features(texts)


def _broken(path: Path, why: str) -> InputError:
    return InputError(f"Saved classifier {path}: {why}. Re-materialize {ASSET} (`augment-assets materialize`).")


def read_artifact(path: Path | str) -> tuple[dict, bytes | None]:
    """(classifier.json, model.skops bytes) of a saved classifier, checked: present, readable, this format,
    this scikit-learn, unaltered."""
    path = Path(path)
    if not (path / SPEC_FILE).is_file():
        raise _broken(path, f"no {SPEC_FILE} (missing or not a saved classifier)")
    try:
        spec = json.loads((path / SPEC_FILE).read_text())
        model = spec["model"]
    except (ValueError, KeyError, TypeError) as error:
        raise _broken(path, f"{SPEC_FILE} is corrupted ({error})") from None
    if model.get("format_version") != FORMAT_VERSION:
        raise _broken(
            path,
            f"saved in artifact format {model.get('format_version')!r}; this version of augment-assets reads format "
            f"{FORMAT_VERSION}",
        )
    if model.get("sklearn_version") != _minor(sklearn_version()):
        raise _broken(
            path,
            f"fit with scikit-learn {model.get('sklearn_version')}; this environment has {sklearn_version()}, whose "
            "pipelines may not read it the same way",
        )
    weights = None
    if model["classifier"] != "generative":
        if not (path / MODEL_FILE).is_file():
            raise _broken(path, f"{MODEL_FILE} is missing")
        weights = (path / MODEL_FILE).read_bytes()
    if Artifact(model, weights=weights).version != spec.get("version"):
        raise _broken(path, f"its files do not match its version {spec.get('version')} (altered or corrupted)")
    return spec, weights


def load_classifier(path: Path | str, language_model=None) -> SavedClassifier:
    """A saved classifier from its folder. `language_model`: a `ModelAccess` (where the base model and the
    generators are, which device) for the embedding and generative classifiers; None for TF-IDF ones."""
    import skops.io as sio

    path = Path(path)
    spec, weights = read_artifact(path)
    model = spec["model"]
    pipeline = None
    if weights is not None:
        try:
            untrusted = set(sio.get_untrusted_types(data=weights)) - set(TRUSTED_TYPES)
            if untrusted:
                raise _broken(path, f"{MODEL_FILE} asks for types this project never saves: {sorted(untrusted)}")
            pipeline = sio.loads(weights, trusted=list(TRUSTED_TYPES))
        except InputError:
            raise
        except Exception as error:  # a damaged zip or schema: skops raises many kinds
            raise _broken(path, f"{MODEL_FILE} cannot be read ({type(error).__name__}: {error})") from None
    saved = SavedClassifier(path, spec["version"], model, spec.get("card", {}), pipeline)
    if model["classifier"] in ("embedding", "generative") and language_model is not None:
        saved.features = language_model.features_of(model)
    return saved


@dataclass(frozen=True)
class FeatureMatrix:
    """`Embeddings`' one method, `matrix(texts)`, over a function of texts."""

    function: Features

    def matrix(self, texts) -> np.ndarray:
        return self.function(list(texts))


@dataclass(frozen=True)
class ModelAccess:
    """Where the language models a classifier reads through are: the base model (embedding) and the generator
    folders (generative, named in the artifact), the cache folder and the device."""

    base_model: str
    base_model_path: Path
    work_dir: Path
    device: str = "auto"
    progress: Callable[[str], None] | None = None

    def embeddings(self, model: dict):
        """What `EmbeddingLogisticRegression(embeddings=...)` reads: `matrix(texts)`, computed through this access."""
        return FeatureMatrix(self.features_of({"classifier": "embedding", **model}))

    def features_of(self, model: dict) -> Features:
        if model["classifier"] == "embedding":
            if model["base_model"] != self.base_model:
                raise InputError(
                    f"this classifier reads reviews through base model {model['base_model']!r}, but the configured "
                    f"base model is {self.base_model!r}: set BASE_MODEL={model['base_model']} to use it"
                )
            return lambda texts: self._embed(model, texts)
        return lambda texts: self._margins(model, texts)

    def _embed(self, model: dict, texts: list[str]) -> np.ndarray:
        from .embedding import embed_texts
        from .embedding_fits import EmbeddingConfig
        from .model import choose_device_dtype

        device, dtype = choose_device_dtype(self.device)
        embeddings = embed_texts(
            texts,
            self.base_model,
            self.base_model_path,
            self.work_dir / "review_embeddings",
            device,
            dtype,
            EmbeddingConfig(max_tokens=int(model["max_tokens"])),
            progress=self.progress,
        )
        return embeddings.matrix(texts)

    def _margins(self, model: dict, texts: list[str]) -> np.ndarray:
        from .generative import generator_log_likelihoods
        from .generative_margins import ScoringConfig
        from .model import choose_device_dtype

        device, dtype = choose_device_dtype(self.device)
        config = ScoringConfig(max_review_tokens=int(model["max_review_tokens"]))
        means = {}
        for sentiment, generator in model["generators"].items():
            means[sentiment] = generator_log_likelihoods(
                generator["path"],
                generator["version"],
                sentiment,
                texts,
                self.work_dir / "generative_scores",
                device,
                dtype,
                config,
            )[0]
        return means[LABELS[0]] - means[LABELS[1]]
