"""The passage classifier: a scikit-learn Pipeline over word and character n-grams, the heading and its
category, position and cue counts, with calibrated probabilities. Sentences and passages share the model;
a passage's label combines its own prediction with its sentences'."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from pipeline.classify.actor import ActorWords, detect_actors, load_actor_words
from pipeline.classify.features import (NUMERIC_COLUMNS, CueLexicons, Item, build_frame, context_matrix, feature_rows,
                                        is_organising, load_cue_lexicons, sentence_summary)
from pipeline.config import MODELS_DIR, ClassifyConfig, Config
from pipeline.modelio import ModelError, check_version, load_sklearn, read_meta, verified_path
from pipeline.records import LABELS

log = logging.getLogger(__name__)
FORMAT_VERSION = "classifier-3"


class ClassifierError(ModelError):
    pass


def build_estimator(params: dict, *, context: bool = True):
    """The feature union and calibrated linear model. `context=False` gives the text-only baseline."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectKBest, chi2
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

    def text_features(**kw):
        # Hashing instead of a vocabulary: the model file stays small and skops saves it in seconds
        # (a 100k-entry vocabulary dict of NumPy ints made saving quadratic).
        return Pipeline([("hash", HashingVectorizer(n_features=2 ** 18, alternate_sign=False, norm=None,
                                                    lowercase=False, **kw)),
                         ("tfidf", TfidfTransformer(sublinear_tf=True))])

    parts = [("chars", text_features(analyzer="char", ngram_range=tuple(params["char_ngrams"])), "text")]
    if params.get("word_ngrams"):  # word n-grams over jieba tokens (an empty list leaves them out)
        parts.insert(0, ("words", text_features(token_pattern=r"\S+", ngram_range=tuple(params["word_ngrams"])),
                         "tokens"))
    if context:
        parts += [
            ("heading", text_features(analyzer="char", ngram_range=(1, 2)), "heading"),
            ("heading_cat", OneHotEncoder(handle_unknown="ignore"), ["heading_cat"]),
            ("numeric", MinMaxScaler(), NUMERIC_COLUMNS),
        ]
    features = ColumnTransformer(parts, sparse_threshold=1.0)
    if not context:
        # The baseline the issue asks for: TF-IDF + logistic regression, text only.
        return Pipeline([("features", features), ("model", LogisticRegression(max_iter=2000, class_weight="balanced"))])
    base = LinearSVC(C=params["C"], class_weight="balanced", random_state=params["seed"])
    # ensemble=False: one SVM on all data, calibrated on cross-validated decisions (one coef matrix to ship).
    model = CalibratedClassifierCV(base, method=params["calibration"], cv=params["calibration_folds"], ensemble=False)
    # Keep the most informative features only: a small model file and a little regularisation.
    select = SelectKBest(chi2, k=params["max_features"])
    return Pipeline([("features", features), ("select", select), ("model", model)])


def freeze_selection(pipeline):
    """Replace the fitted SelectKBest by an equivalent VarianceThreshold over its 0/1 mask. SelectKBest
    re-sorts all feature scores on every transform (measured: a fifth of the pipeline's time); a threshold
    on a stored mask selects the same columns at no cost, and is a plain scikit-learn object for skops."""
    from sklearn.feature_selection import SelectKBest, VarianceThreshold

    steps = dict(pipeline.named_steps)
    select = steps.get("select")
    if isinstance(select, SelectKBest):
        frozen = VarianceThreshold(threshold=0.5)
        frozen.variances_ = select.get_support().astype(float)
        frozen.n_features_in_ = select.n_features_in_
        pipeline.steps = [(name, frozen if name == "select" else step) for name, step in pipeline.steps]
    return pipeline


def first_stage(pipeline_or_classes, passages: Sequence[Item], sentences: Sequence[Sequence[Item]],
                passage_weight: float, lexicons: Optional[CueLexicons] = None,
                tokenize: Optional[Callable[[str], list[str]]] = None, normalise: Sequence[str] = (),
                predict: Optional[Callable[[list[Item]], np.ndarray]] = None):
    """First-stage probabilities of a run of passages: each passage's own mixed with the mean of its sentences'
    (classify.passage_weight), the summary of its sentences (first, last, strongest) and the sentences' own rows.
    `lexicons` and `tokenize` build the feature frame for a fitted Pipeline (not needed with `predict`).
    Passages and sentences go through the pipeline in one call (one feature frame, one sparse matrix)."""
    pipeline = pipeline_or_classes  # the fitted Pipeline, or (with `predict`) just its class list
    k = len(getattr(pipeline, "classes_", pipeline))
    flat = [s for group in sentences for s in group]
    if not passages:
        return np.zeros((0, k)), np.zeros((0, 3 * k)), []
    if predict is not None:  # the classifier's own path (the fast one when it reproduces the Pipeline)
        probs = predict(list(passages) + flat)
    else:
        probs = pipeline.predict_proba(build_frame(list(passages) + flat, tokenize, lexicons, normalise))
    p_probs, s_probs = probs[:len(passages)], probs[len(passages):]
    w = passage_weight
    mixed, summaries, per_sentence, at = [], [], [], 0
    for i, group in enumerate(sentences):
        sp = s_probs[at:at + len(group)]
        at += len(group)
        mixed.append(p_probs[i] if len(group) <= 1 else w * p_probs[i] + (1 - w) * sp.mean(axis=0))
        summaries.append(sentence_summary(sp if len(group) else p_probs[i:i + 1]))
        per_sentence.append(sp)
    return np.array(mixed), np.array(summaries), per_sentence


@dataclass
class Prediction:
    label: str
    secondary: Optional[str]
    scores: dict[str, float]


JUDGEMENTS = ("challenge", "recommendation")
FACTS_SHARE = 0.5
FACTS = ("achievement", "background")


def closing_judgement(pred: Prediction, sentence_probs: np.ndarray, classes: Sequence[str], min_prob: float) -> Prediction:
    """ANNOTATION.md: a passage that lists facts and closes with a judgement takes the label of the judgement
    (facts about funding, then "但…止步于国内" → challenge, secondary achievement). When the passage reads as facts
    (achievement or background) and its last sentence is a confident challenge or recommendation, while most of
    the sentences before it read as facts, the last sentence's label wins and the facts' label becomes the secondary.
    The scores stay the model's probabilities."""
    sp = np.asarray(sentence_probs)
    if len(sp) < 2 or pred.label not in FACTS:
        return pred
    last = sp[-1]
    label = classes[int(last.argmax())]
    if label not in JUDGEMENTS or last.max() < min_prob:
        return pred
    before = [classes[int(row.argmax())] for row in sp[:-1]]
    if sum(b in FACTS for b in before) < FACTS_SHARE * len(before):
        return pred
    return Prediction(label, pred.label, pred.scores)


def organising(pred: Prediction, text: str, rule) -> Prediction:
    """A passage or sentence that only announces what follows ("针对上述问题，提出以下建议。") is background
    (ANNOTATION.md: how the article is organised); the model's label, if another, becomes the secondary."""
    if pred.label == "background" or not is_organising(text, rule):
        return pred
    return Prediction("background", pred.label, pred.scores)


def decide(probs: np.ndarray, classes: Sequence[str], cfg: ClassifyConfig) -> Prediction:
    return decide_all(np.asarray(probs)[np.newaxis], classes, cfg)[0]


def decide_all(probs: np.ndarray, classes: Sequence[str], cfg: ClassifyConfig) -> list[Prediction]:
    """Label, secondary label (when close enough to the top) and rounded scores for each row of probabilities."""
    probs = np.asarray(probs, dtype=float).reshape(-1, len(classes))
    order = np.argsort(-probs, axis=1)  # one sort for all rows (per row, the same order as a sort of the row)
    out = []
    for row, (top, second) in zip(probs.tolist(), order[:, :2].tolist()):
        secondary = None
        if row[second] >= cfg.secondary_min and row[second] >= cfg.secondary_ratio * row[top]:
            secondary = classes[second]
        out.append(Prediction(classes[top], secondary, {c: round(p, 4) for c, p in zip(classes, row)}))
    return out


class PassageClassifier:
    """The classify stage: loads models/classifier (compiled arrays, checked against meta.json) and the cue and
    actor word lists once, and labels passages and their sentences (`classify`) and their actors (`actors`).
    `tokenize` is the NLP stage's segmenter, for items that come without their words."""

    def __init__(self, config: Config, model_dir: Optional[Path] = None,
                 tokenize: Optional[Callable[[str], list[str]]] = None):
        self.cfg = config.classify
        self.lexicons = load_cue_lexicons(config)
        self.actor_words: ActorWords = load_actor_words(config.path(self.cfg.actors))
        self.model_dir = model_dir or MODELS_DIR / self.cfg.model_dir
        meta = read_meta(self.model_dir)
        check_version(meta, FORMAT_VERSION, self.model_dir)
        self.meta = meta
        params = meta.get("params", {})
        self.closing_min = float(params.get("closing_judgement_min", 0) or 0)
        self.normalise = tuple(params.get("normalise", ()))
        self.tokenize = tokenize or (lambda text: list(text))
        for name, digest in sorted(meta.get("sha256", {}).items()):  # every artefact, the reference ones too
            verified_path(self.model_dir / name, digest)
        # One runtime route: the compiled arrays. The skops Pipeline they were compiled from is the reference
        # (training and tests check the compiled form against it: reference_pipeline()).
        self.compiled = _compiled(self.model_dir, meta)
        self.classes = list(self.compiled.classes)
        self.context_model = _CompiledContext(self.compiled) if self.compiled.spec.get("context") else None
        if sorted(self.classes) != sorted(LABELS):
            raise ClassifierError(f"{self.model_dir}: model classes {self.classes} are not {list(LABELS)}")

    def reference_pipeline(self):
        """The fitted scikit-learn Pipeline the compiled form reproduces (model.skops): for tests and training."""
        return freeze_selection(load_sklearn(self.model_dir / "model.skops",
                                             self.meta.get("sha256", {}).get("model.skops")))

    def predict_proba(self, items: Sequence[Item]) -> np.ndarray:
        if not items:
            return np.zeros((0, len(self.classes)))
        return self.compiled.predict_proba(feature_rows(items, self.tokenize, self.lexicons, self.normalise))

    def stage_one(self, passages: Sequence[Item], sentences: Sequence[Sequence[Item]]):
        return first_stage(self.classes, passages, sentences, self.cfg.passage_weight, predict=self.predict_proba)

    def classify(self, passages: Sequence[Item], sentences: Sequence[Sequence[Item]],
                 groups: Optional[Sequence[object]] = None) -> tuple[list[Prediction], list[list[Prediction]]]:
        """Labels for passages (in document order; `groups` names each one's document) and for each passage's
        sentences. A passage's probabilities mix its own and the mean of its sentences'; the context model then
        reads them beside the neighbours' (sections run in blocks: a passage amid challenges leans challenge)."""
        mixed, summaries, per_sentence = self.stage_one(passages, sentences)
        # All sentences decided at once, then given back to their passages.
        flat_s = decide_all(np.concatenate(per_sentence) if per_sentence else np.zeros((0, len(self.classes))),
                            self.classes, self.cfg)
        bounds = np.cumsum([0] + [len(sp) for sp in per_sentence]).tolist()
        out_s = [flat_s[a:b] for a, b in zip(bounds, bounds[1:])]
        if self.context_model is not None and len(passages):
            groups = list(groups) if groups is not None else [0] * len(passages)
            ctx = context_matrix(mixed, groups, [p.position for p in passages], summaries, [p.heading for p in passages])
            mixed = self.context_model.predict_proba(ctx)
        preds = decide_all(mixed, self.classes, self.cfg)
        if self.closing_min:
            preds = [closing_judgement(p, sp, self.classes, self.closing_min) for p, sp in zip(preds, per_sentence)]
        rule = self.lexicons.organising
        preds = [organising(p, item.text, rule) for p, item in zip(preds, passages)]
        out_s = [[organising(p, item.text, rule) for p, item in zip(group, items)]
                 for group, items in zip(out_s, sentences)]
        return preds, out_s

    def actors(self, texts: Sequence[str], groups: Optional[Sequence[object]] = None) -> list[Optional[str]]:
        """Who each passage is about (classify.actor); a passage without an actor word inherits the previous one
        of its own document only (`groups` names each passage's document, in order)."""
        bounds = [] if groups is None else [i for i in range(1, len(texts)) if groups[i] != groups[i - 1]]
        return [a for lo, hi in zip([0, *bounds], [*bounds, len(texts)])
                for a in detect_actors(texts[lo:hi], self.actor_words)]


class _CompiledContext:
    """The context model's predict_proba from the compiled arrays."""

    def __init__(self, compiled):
        self.compiled = compiled

    def predict_proba(self, X):
        return self.compiled.context_proba(X)


def _compiled(model_dir: Path, meta: dict):
    """The compiled classifier (compiled.npz; its checksum was verified with the other artefacts)."""
    from pipeline.classify.compiled import CompiledClassifier, NotCompilable

    if "compiled.npz" not in meta.get("sha256", {}):
        raise ClassifierError(f"{model_dir}: no compiled.npz in meta.json; retrain with `policyminer train classifier`")
    try:
        return CompiledClassifier(model_dir / "compiled.npz")
    except (NotCompilable, ValueError, OSError, KeyError) as exc:
        raise ClassifierError(f"{model_dir / 'compiled.npz'}: not usable ({exc}); retrain with "
                              "`policyminer train classifier`") from exc

