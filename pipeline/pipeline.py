"""The Pipeline: the three stages of PolicyMiner, built once from a typed Config (pipeline.config).

    config = load_config("team.toml")          # configs/default.toml overlaid by the file, checked
    pipe = Pipeline.from_config(config)        # loads rules, lexicons and models: once per process
    doc = pipe.process("notice.html")          # = pipe.analyse([pipe.ingest("notice.html")])[0]

Stages, each owning what it loads:
- `ingester` (pipeline.ingest.Ingester): source → CleanDocument; boilerplate and title rules, spun-word table,
  the repairs' POS tagger;
- `entities` (pipeline.nlp.pipeline.NlpStage): texts → entities and token spans; segmenter, entity rules and
  lexicons, the name tagger;
- `classifier` (pipeline.classify.PassageClassifier): passages → labels and actors; the compiled classifier, cue
  and actor word lists.
A batch run builds one Pipeline per worker process (pipeline.workers)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from pipeline.classify.model import PassageClassifier
from pipeline.config import Config
from pipeline.core import analyse_many, annotate_records
from pipeline.ingest import Ingester
from pipeline.nlp.pipeline import NlpStage
from pipeline.records import CleanDocument, Document


class Pipeline:
    def __init__(self, config: Config, ingester: Ingester, entities: NlpStage, classifier: PassageClassifier):
        self.config = config
        self.ingester = ingester
        self.entities = entities
        self.classifier = classifier

    @classmethod
    def from_config(cls, config: Config, *, use_model: Optional[bool] = None) -> "Pipeline":
        """Every stage of `config`. `use_model` overrides [nlp] use_model (the name tagger). Raises ModelError (a
        missing or damaged model), ConfigError or OSError (a data file named in the config that cannot be read)."""
        entities = NlpStage(config, use_model=use_model)
        # The classifier reads words as the NLP stage cuts them (items without tokens are cut by its segmenter).
        classifier = PassageClassifier(config, tokenize=entities.segmenter.cut)
        return cls(config, Ingester(config), entities, classifier)

    def ingest(self, source: Union[str, bytes, Path], *, name: Optional[str] = None, url: Optional[str] = None,
               kind: Optional[str] = None, site_repeats: frozenset = frozenset()) -> CleanDocument:
        """One input → CleanDocument (see Ingester.ingest). Raises IngestError."""
        return self.ingester.ingest(source, name=name, url=url, kind=kind, site_repeats=site_repeats)

    def analyse(self, cleans: Sequence[CleanDocument]) -> list[Document]:
        """Entities and labels of cleaned documents, one classifier call for all: each Document is what the
        analysis of its document alone gives."""
        return analyse_many(cleans, self.entities, self.classifier)

    def process(self, source: Union[str, bytes, Path], *, name: Optional[str] = None, url: Optional[str] = None,
                kind: Optional[str] = None) -> Document:
        """One file (path), bytes or str → Document. Raises IngestError for input that cannot be a document."""
        return self.analyse([self.ingest(source, name=name, url=url, kind=kind)])[0]

    def annotate(self, records: Iterable[dict]) -> list[dict]:
        """Passages given as text, tagged (see core.annotate_records); records over limits.annotate_max_chars are
        refused with ValueError."""
        return annotate_records(records, self.entities, self.classifier, self.config.limits.annotate_max_chars)
