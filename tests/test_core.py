"""The Pipeline: analysing documents together gives each what analysing it alone gives; the typed config."""
from __future__ import annotations

import pytest


# Our own small articles. The first ends on a passage whose actor is a foreign one; the second opens with a
# passage that names no actor, so it would inherit that actor if documents shared their context.
FOREIGN_LAST = """美国半导体产业政策观察
美国商务部近日公布芯片法案的第二批补贴名单，涉及先进封装和成熟制程项目。
欧盟委员会随后表示，将加快审批成员国的半导体国家援助计划，以免产能外流。
美国国会预算办公室估计，相关税收抵免在十年内的成本将超过此前预期。"""
NO_ACTOR_FIRST = """关于推进数字乡村建设的几点建议
当前，农村宽带覆盖已取得明显进展，但数据要素流通和应用场景开发仍然滞后。
下一步，建议省农业农村厅会同通信管理局，统筹建设县域数据平台，完善运营维护机制。
同时，应加大对基层干部数字技能的培训力度，建立常态化的考核评价制度。"""
SHORT = """市统计局发布三季度经济运行情况
前三季度，全市地区生产总值同比增长5.2%，规模以上工业增加值增长6.1%，社会消费品零售总额增长4.8%。
从结构看，高技术制造业投资保持较快增长，服务业对经济增长的贡献率继续提高，外贸进出口总体平稳。"""


def test_analysing_together_equals_analysing_each_document(pipe):
    cleans = [pipe.ingest(text, name=f"doc{i}.txt") for i, text in enumerate((FOREIGN_LAST, NO_ACTOR_FIRST, SHORT))]
    together = pipe.analyse(cleans)
    alone = [pipe.analyse([c])[0] for c in cleans]
    assert [d.to_dict() for d in together] == [d.to_dict() for d in alone]
    # Passage indices count within each document, and no actor crosses from one document into the next.
    assert [p.index for p in together[1].passages] == list(range(len(together[1].passages)))
    assert together[1].passages[0].actor == alone[1].passages[0].actor
    assert together[0].passages[-1].actor is not None


def test_analyse_of_no_documents(pipe):
    assert pipe.analyse([]) == []


@pytest.mark.parametrize("overlay,message", [
    ("[limits]\nmax_input_bytes = \"50MB\"\n", "'limits.max_input_bytes' must be int, not str"),
    ("[limits]\ndoc_timeout = -5\n", "'limits.doc_timeout' must not be negative"),
    ("[limits]\nmax_blocks = -10\n", "'limits.max_blocks' must not be negative"),
    ("[dedup]\nshingle_chars = 0\n", "'dedup.shingle_chars' must be at least 1"),
    ("[nlp]\nuse_model = 1\n", "'nlp.use_model' must be bool"),
    ("[limits]\nno_such_key = 1\n", "unknown config key 'limits.no_such_key'"),
    ("[no_such_table]\nx = 1\n", "unknown config key 'no_such_table'"),
    ("limits = 3\n", "config key 'limits' must be a table"),
    ("[dedup]\nthreshold = 1.5\n", "'dedup.threshold' must be between 0 and 1, not 1.5"),
    ("[classify]\nsecondary_ratio = -0.1\n", "'classify.secondary_ratio' must not be negative"),
    ("[nlp]\nsegmenter = \"pkuseg\"\n", "'nlp.segmenter' must be one of 'rjieba', 'jieba', not 'pkuseg'"),
    ("[ingest]\nmin_cjk_ratio = \"0.3\"\n", "'ingest.min_cjk_ratio' must be float, not str"),
])
def test_config_values_are_validated_with_the_key_named(tmp_path, overlay, message):
    from pipeline.config import ConfigError, load_config

    path = tmp_path / "bad.toml"
    path.write_text(overlay, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(str(path))


def test_zero_still_turns_site_repeat_off(tmp_path):
    from pipeline.config import load_config

    path = tmp_path / "ok.toml"
    path.write_text("[boilerplate]\nsite_repeat_min_pages = 0\n[classify]\nsecondary_min = 1\n", encoding="utf-8")
    config = load_config(str(path))
    assert config.boilerplate.site_repeat_min_pages == 0
    assert config.classify.secondary_min == 1.0 and isinstance(config.classify.secondary_min, float)


def test_config_fingerprint_follows_the_values(tmp_path):
    """Two loads of the same files are one Config (equal, same hash, same version); a changed value changes the
    version, an int given for a float key is that float, and [review] (the review app's) changes nothing."""
    from pipeline.config import load_config

    same = tmp_path / "same.toml"
    same.write_text("[classify]\nsecondary_min = 0.25\n[review]\npage_size = 5\n", encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text("[classify]\nsecondary_min = 0.3\n", encoding="utf-8")
    default = load_config()
    assert load_config() == default and hash(load_config()) == hash(default)
    assert load_config(str(same)).version == default.version and load_config(str(same)) == default
    assert load_config(str(changed)).version != default.version
    assert load_config(str(changed)).classify.secondary_min == 0.3
