"""Classify stage: passage and sentence labels (achievement, challenge, recommendation, background) with
calibrated scores, secondary labels and the passage's actor."""
from pipeline.classify.model import ClassifierError, PassageClassifier

__all__ = ["PassageClassifier", "ClassifierError"]
