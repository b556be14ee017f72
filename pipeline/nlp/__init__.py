"""NLP stage: jieba segmentation inside spaCy, rule and statistical entity recognition, normalisation, linking."""
