"""Model files never run code: a pickle posing as model.skops is refused without being unpickled, skops files
naming dangerous functions are refused, a tampered file fails its checksum, and a meta.json of another format
version fails with a message that says so. None of these tests unpickles anything."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

from pipeline.classify.model import FORMAT_VERSION, ClassifierError, PassageClassifier
from pipeline.config import MODELS_DIR, load_config
from pipeline.modelio import ModelError, dump_sklearn, is_trusted_type, load_sklearn, read_meta, sha256_of

REAL = MODELS_DIR / "classifier"
CONFIG = load_config()
needs_model = pytest.mark.skipif(not (REAL / "meta.json").exists(), reason="models/classifier is not trained")


class _Exploit:
    """Unpickling this runs a shell command that creates the marker file. It is only ever dumped."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _model_dir(tmp_path: Path, model_bytes: bytes, *, version: str = FORMAT_VERSION, checksum: bool = True) -> Path:
    d = tmp_path / "models" / "classifier"
    d.mkdir(parents=True)
    (d / "model.skops").write_bytes(model_bytes)
    meta = {"format_version": version, "sha256": {"model.skops": sha256_of(d / "model.skops")} if checksum else {}}
    (d / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return d


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "PWNED"


@pytest.fixture
def hostile_pickle(marker) -> bytes:
    data = pickle.dumps(_Exploit(marker))
    assert b"system" in data  # the payload is there, and nothing ran while building it
    assert not marker.exists()
    return data


def test_hostile_pickle_is_refused_by_load_sklearn(tmp_path, hostile_pickle, marker):
    d = _model_dir(tmp_path, hostile_pickle)
    with pytest.raises(ModelError, match="not a skops model file"):
        load_sklearn(d / "model.skops", sha256_of(d / "model.skops"))
    assert not marker.exists()


def test_hostile_pickle_is_refused_by_the_classifier(tmp_path, hostile_pickle, marker):
    """The runtime never opens model.skops (it runs compiled.npz, loaded without pickle); the reference loader
    refuses the pickle by name."""
    d = _model_dir(tmp_path, hostile_pickle)
    with pytest.raises(ModelError, match=str(d)):
        PassageClassifier(CONFIG, model_dir=d)
    with pytest.raises(ModelError) as info:
        load_sklearn(d / "model.skops", sha256_of(d / "model.skops"))
    assert "refusing to load" in str(info.value) or "not a skops model file" in str(info.value)
    assert not marker.exists()


def test_pickle_inside_a_zip_is_refused(tmp_path, hostile_pickle, marker):
    """A zip that is not a skops archive (no schema.json), holding the pickle."""
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.pkl", hostile_pickle)
    with pytest.raises(ModelError, match="not a skops model file"):
        load_sklearn(path, sha256_of(path))
    assert not marker.exists()


@pytest.mark.parametrize("func", [os.system, exec, eval, getattr, open, __import__],
                         ids=["os.system", "exec", "eval", "getattr", "open", "__import__"])
def test_skops_file_naming_a_dangerous_function_is_refused(tmp_path, func, marker):
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "model.skops"
    digest = dump_sklearn(FunctionTransformer(func=func, kw_args=None), path)
    with pytest.raises(ModelError, match="untrusted types"):
        load_sklearn(path, digest)
    assert not marker.exists()


def test_safe_skops_file_loads(tmp_path):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    path = tmp_path / "m.skops"
    digest = dump_sklearn(model, path)
    loaded = load_sklearn(path, digest)
    assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]


@pytest.mark.parametrize("name,trusted", [
    ("sklearn.calibration._CalibratedClassifier", True), ("sklearn.feature_selection._univariate_selection.chi2", True),
    ("numpy.ndarray", True), ("scipy.sparse._csr.csr_matrix", True), ("builtins.eval", False),
    ("builtins.exec", False), ("posix.system", False), ("subprocess.Popen", False), ("numpy.load", False),
    ("numpy.testing._private.utils.runstring", False), ("numpy.lib._npyio_impl.loadtxt", False),
    ("sklearn.datasets.fetch_openml", False)])
def test_trusted_types(name, trusted):
    assert is_trusted_type(name) is trusted


def test_tampered_file_fails_the_checksum(tmp_path):
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "m.skops"
    digest = dump_sklearn(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_sklearn(path, digest)


def test_missing_checksum_is_refused(tmp_path):
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "m.skops"
    dump_sklearn(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)
    with pytest.raises(ModelError, match="no SHA-256"):
        load_sklearn(path, None)


@needs_model
@pytest.mark.parametrize("artefact", ["model.skops", "compiled.npz"])
def test_tampered_classifier_fails_the_checksum(tmp_path, artefact):
    d = tmp_path / "classifier"
    shutil.copytree(REAL, d)
    assert (d / artefact).exists(), "training writes every artefact"
    with open(d / artefact, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match="checksum mismatch"):
        PassageClassifier(CONFIG, model_dir=d)


@needs_model
def test_classifier_without_its_compiled_route_is_refused(tmp_path):
    """The compiled arrays are the classifier's one runtime route: a model without them is refused by name,
    never silently run another way."""
    d = tmp_path / "classifier"
    shutil.copytree(REAL, d)
    meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    del meta["sha256"]["compiled.npz"]
    (d / "compiled.npz").unlink()
    (d / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ClassifierError, match="compiled.npz.*retrain"):
        PassageClassifier(CONFIG, model_dir=d)


@needs_model
def test_other_format_version_fails_clearly(tmp_path):
    d = tmp_path / "classifier"
    shutil.copytree(REAL, d)
    meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    meta["format_version"] = "classifier-0"
    (d / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises((ClassifierError, ModelError)) as info:
        PassageClassifier(CONFIG, model_dir=d)
    msg = str(info.value)
    assert "'classifier-0'" in msg and repr(FORMAT_VERSION) in msg and "retrain" in msg


def test_other_format_version_fails_before_reading_the_model(tmp_path, hostile_pickle, marker):
    d = _model_dir(tmp_path, hostile_pickle, version="classifier-999")
    with pytest.raises(ModelError, match="does not match"):
        PassageClassifier(CONFIG, model_dir=d)
    assert not marker.exists()


@pytest.mark.parametrize("content", ["not json", "[1, 2]", ""])
def test_broken_meta_is_a_model_error(tmp_path, content):
    (tmp_path / "meta.json").write_text(content, encoding="utf-8")
    with pytest.raises(ModelError, match="meta.json"):
        read_meta(tmp_path)


def test_missing_model_dir_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no meta.json"):
        PassageClassifier(CONFIG, model_dir=tmp_path / "nowhere")


@needs_model
def test_real_model_checksums_match_meta_and_run_json():
    from pipeline.runoutputs import model_versions

    meta = read_meta(REAL)
    for name, digest in meta["sha256"].items():
        assert sha256_of(REAL / name) == digest, f"{name}: meta.json checksum is stale"
    recorded = model_versions()["classifier"]
    assert recorded["sha256"] == meta["sha256"] and recorded["format_version"] == FORMAT_VERSION


@needs_model
def test_real_model_loads():
    clf = PassageClassifier(CONFIG, model_dir=REAL)
    assert sorted(clf.classes) == sorted(["achievement", "challenge", "recommendation", "background"])


@needs_model
def test_compiled_classifier_holds_no_pickle():
    """compiled.npz loads with allow_pickle=False: arrays and a JSON spec only."""
    import numpy as np

    with np.load(REAL / "compiled.npz", allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
