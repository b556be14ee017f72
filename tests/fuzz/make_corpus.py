"""Generate the fuzz corpus for the ingest stage: hostile, broken and oversized inputs.

Every case is a file plus what must happen to it: "doc" (a CleanDocument comes out), "error" (a clear
IngestError) or "either". Nothing here is committed: tests/test_fuzz.py builds the corpus into a temporary
folder, and the large cases (50 MB, over the size limit) are only written when asked for.

    python tests/fuzz/make_corpus.py OUT_DIR [--large]

writes the files and OUT_DIR/manifest.json. All text is written for this corpus; the random cases use a fixed
seed so that a failure reproduces.
"""
from __future__ import annotations

import argparse
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

SEED = 20240601
# The size limit of configs/default.toml [limits] max_input_bytes (52428800). The 50 MB case stays under it,
# the oversize case goes one byte over.
MAX_INPUT_BYTES = 52_428_800

# A short notice of our own, in the register of Chinese policy documents.
TITLE = "关于加快推进数字经济高质量发展的实施意见"
PARAGRAPHS = [
    "各区县人民政府，市政府各部门：为贯彻落实国家数字经济发展战略，推动数字技术与实体经济深度融合，结合本市实际，提出如下实施意见。",
    "一、总体要求。坚持创新引领、应用牵引、安全可控，到二〇二七年，全市数字经济核心产业增加值占地区生产总值比重达到百分之十五。",
    "二、夯实数字基础设施。加快第五代移动通信网络和千兆光网建设，新建基站三千个，推动算力中心绿色集约布局。",
    "三、培育数据要素市场。建立公共数据授权运营机制，探索数据资产登记和交易规则，支持企业开展数据合规评估。",
    "四、强化组织保障。各部门要明确责任分工，加强统筹协调，将重点任务纳入年度绩效考核，确保各项措施落到实处。",
]
META_LINE = "发布时间：2024-05-20　来源：市发展和改革委员会"


def article_text() -> str:
    return "\n".join([TITLE, META_LINE, *PARAGRAPHS]) + "\n"


def article_html(body_extra: str = "", *, title: Optional[str] = TITLE, head_extra: str = "",
                 charset: str = "utf-8") -> str:
    paras = "\n".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    title_tag = "" if title is None else f"<title>{title}</title>"
    return (f'<!DOCTYPE html>\n<html><head><meta charset="{charset}">{title_tag}{head_extra}</head>\n'
            f'<body><div class="nav"><a href="/">首页</a> | <a href="/zwgk">政务公开</a></div>\n'
            f'<div class="article"><h1>{TITLE}</h1><div class="info">{META_LINE}</div>\n{paras}\n{body_extra}</div>\n'
            f'<div class="footer">版权所有：某市人民政府办公室 备案号：00000000号</div></body></html>\n')


@dataclass
class Case:
    name: str
    file: str
    expect: str  # doc | error | either
    why: str
    large: bool = False
    # Substrings that must not appear in the extracted body (script code and the like).
    forbidden: list[str] = field(default_factory=list)
    # Substrings the body must keep when a document comes out.
    required: list[str] = field(default_factory=list)


CaseMaker = Callable[[Path], Case]
_MAKERS: list[tuple[bool, CaseMaker]] = []


def case(large: bool = False):
    def register(fn: CaseMaker) -> CaseMaker:
        _MAKERS.append((large, fn))
        return fn
    return register


@case()
def random_bytes(out: Path) -> Case:
    rnd = random.Random(SEED)
    (out / "random_bytes.bin").write_bytes(bytes(rnd.getrandbits(8) for _ in range(65536)))
    return Case("random_bytes", "random_bytes.bin", "error", "64 KiB of random bytes: binary, not a page")


@case()
def random_high_bytes(out: Path) -> Case:
    # Random bytes without control characters: passes the binary check and reaches the decoders.
    rnd = random.Random(SEED + 1)
    data = bytes(rnd.choice(range(0x20, 0x100)) for _ in range(65536))
    (out / "random_high_bytes.txt").write_bytes(data)
    return Case("random_high_bytes", "random_high_bytes.txt", "either", "random printable and high bytes")


@case()
def truncated_utf8(out: Path) -> Case:
    raw = article_text().encode("utf-8")
    # Cut every multi-byte character at one place in each paragraph, then end inside a character.
    pieces = []
    for line in raw.split(b"\n"):
        pieces.append(line[:len(line) // 2 + 1] + line[len(line) // 2 + 2:])  # drops one byte mid-line
    data = b"\n".join(pieces) + "结尾".encode("utf-8")[:-1]
    (out / "truncated_utf8.txt").write_bytes(data)
    return Case("truncated_utf8", "truncated_utf8.txt", "either", "UTF-8 with broken and truncated sequences",
                required=["数字基础设施"])


@case()
def truncated_gbk(out: Path) -> Case:
    data = article_text().encode("gbk")
    data = data[:-1] + b"\xb5"  # a lead byte with no trail byte at the end
    (out / "truncated_gbk.txt").write_bytes(data)
    return Case("truncated_gbk", "truncated_gbk.txt", "doc", "GBK whose last character is cut in half",
                required=["数据要素市场"])


@case()
def mixed_utf8_gbk(out: Path) -> Case:
    half = len(PARAGRAPHS) // 2
    first = "\n".join([TITLE, META_LINE, *PARAGRAPHS[:half]]).encode("utf-8")
    second = "\n".join(PARAGRAPHS[half:]).encode("gbk")
    (out / "mixed_utf8_gbk.txt").write_bytes(first + b"\n" + second + b"\n")
    return Case("mixed_utf8_gbk", "mixed_utf8_gbk.txt", "either", "UTF-8 first half, GBK second half")


@case()
def mixed_encodings_html(out: Path) -> Case:
    page = article_html(charset="gbk").encode("gbk")
    page = page.replace("</body>".encode(), "<p>网站地图</p>".encode("utf-8") + b"</body>")
    (out / "mixed_encodings.html").write_bytes(page)
    return Case("mixed_encodings_html", "mixed_encodings.html", "doc", "GBK page with a UTF-8 fragment",
                required=["组织保障"])


@case()
def nested_100k(out: Path) -> Case:
    n = 100_000
    body = "<div>" * n + "".join(f"<p>{p}</p>" for p in PARAGRAPHS) + "</div>" * n
    (out / "nested_100k.html").write_text(f"<html><head><title>{TITLE}</title></head><body>{body}</body></html>",
                                          encoding="utf-8")
    return Case("nested_100k", "nested_100k.html", "either", "100,000 nested <div> around the article")


@case()
def nested_inline_100k(out: Path) -> Case:
    n = 100_000
    body = "<span><b>" * (n // 2) + "".join(PARAGRAPHS) + "</b></span>" * (n // 2)
    (out / "nested_inline_100k.html").write_text(f"<html><body><div>{body}</div></body></html>", encoding="utf-8")
    return Case("nested_inline_100k", "nested_inline_100k.html", "either", "100,000 nested inline tags")


@case()
def unclosed_100k(out: Path) -> Case:
    body = "<div><p>" * 50_000 + "".join(PARAGRAPHS)
    (out / "unclosed_100k.html").write_text(f"<html><body>{body}", encoding="utf-8")
    return Case("unclosed_100k", "unclosed_100k.html", "either", "100,000 tags that are never closed")


@case()
def script_only(out: Path) -> Case:
    js = "var 通知 = '关于加快推进数字经济高质量发展的实施意见，各区县人民政府，市政府各部门：';\n" * 200
    page = f"<html><head><script>{js}</script></head><body><script>document.write('数字经济'); alert(1);</script></body></html>"
    (out / "script_only.html").write_text(page, encoding="utf-8")
    return Case("script_only", "script_only.html", "error", "only <script> content", forbidden=["alert(", "var "])


@case()
def style_only(out: Path) -> Case:
    css = "body::before { content: '数字经济高质量发展实施意见，各区县人民政府。'; color: red; }\n" * 200
    page = f"<html><head><style>{css}</style></head><body><style>p {{ margin: 0 }}</style></body></html>"
    (out / "style_only.html").write_text(page, encoding="utf-8")
    return Case("style_only", "style_only.html", "error", "only <style> content", forbidden=["color:", "margin"])


@case()
def zero_width_bidi(out: Path) -> Case:
    controls = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
    rnd = random.Random(SEED + 2)
    salted = "".join(ch + (rnd.choice(controls) if rnd.random() < 0.3 else "") for ch in article_text())
    (out / "zero_width_bidi.txt").write_text(salted, encoding="utf-8")
    return Case("zero_width_bidi", "zero_width_bidi.txt", "doc", "zero-width and bidi controls between characters",
                forbidden=list(controls), required=["数字基础设施"])


@case()
def fullwidth(out: Path) -> Case:
    fw = str.maketrans("0123456789%,.:;!?()", "０１２３４５６７８９％，．：；！？（）")
    text = article_text() + "\n".join([
        "五、资金安排。市财政每年安排专项资金１２．５亿元，支持重点项目３０个，带动社会投资超过１，２００亿元。",
        "六、实施时间。本意见自２０２４年６月１日起施行，有效期至２０２８年１２月３１日。",
    ]).translate(fw) + "\n"
    (out / "fullwidth.txt").write_text(text, encoding="utf-8")
    return Case("fullwidth", "fullwidth.txt", "doc", "full-width digits and punctuation", required=["１２．５亿元"])


@case()
def line_1mb(out: Path) -> Case:
    sentence = PARAGRAPHS[2]
    # Numbered copies: identical pieces would (rightly) be dropped as a repeated paragraph.
    line = "".join(sentence.replace("。", f"（第{i}项）。", 1)
                   for i in range(1_000_000 // len(sentence.encode("utf-8")) + 1))
    (out / "line_1mb.txt").write_text(TITLE + "\n" + line + "\n" + PARAGRAPHS[3] + "\n", encoding="utf-8")
    return Case("line_1mb", "line_1mb.txt", "doc", "a 1 MB line of text")


@case()
def line_1mb_html(out: Path) -> Case:
    sentence = PARAGRAPHS[1]
    para = sentence * (1_000_000 // len(sentence.encode("utf-8")) + 1)
    (out / "line_1mb.html").write_text(article_html(f"<p>{para}</p>"), encoding="utf-8")
    return Case("line_1mb_html", "line_1mb.html", "doc", "a 1 MB paragraph in HTML")


@case()
def line_1mb_nobreak(out: Path) -> Case:
    # A long line with no sentence ends at all: cutting must still happen.
    line = "数字经济" * 250_000
    (out / "line_1mb_nobreak.txt").write_text(TITLE + "\n" + line + "\n", encoding="utf-8")
    return Case("line_1mb_nobreak", "line_1mb_nobreak.txt", "either", "a 1 MB line without punctuation")


@case()
def nul_bytes_head(out: Path) -> Case:
    data = article_text().encode("utf-8").replace("。".encode(), "。".encode() + b"\x00")
    (out / "nul_head.txt").write_bytes(data)
    return Case("nul_bytes_head", "nul_head.txt", "either", "NUL bytes after every sentence",
                forbidden=["\x00"])


@case()
def nul_bytes_tail(out: Path) -> Case:
    raw = article_text().encode("utf-8") * 3
    data = raw[:2000] + raw[2000:].replace("，".encode(), "，".encode() + b"\x00")
    (out / "nul_tail.txt").write_bytes(data)
    return Case("nul_bytes_tail", "nul_tail.txt", "either", "NUL bytes only past the binary sniffing window",
                forbidden=["\x00"])


@case()
def entities_cdata(out: Path) -> Case:
    extra = ("<p>五、其他事项&nbsp;&amp;&lt;说明&gt;：&#x4e2d;&#22269;&#0;&#xD800;&#x110000;&#99999999999;&bogus;"
             "本意见由市发展改革委负责解释。</p><![CDATA[<script>alert('cdata')</script>]]>"
             "<p><![CDATA[数据]]>安全责任由各部门承担。</p>")
    (out / "entities_cdata.html").write_text(article_html(extra), encoding="utf-8")
    return Case("entities_cdata", "entities_cdata.html", "doc", "named, numeric, invalid entities and CDATA",
                forbidden=["alert(", "&nbsp;", "&amp;"], required=["中国"])


@case()
def empty_title(out: Path) -> Case:
    page = article_html(title="").replace(f"<h1>{TITLE}</h1>", "<h1></h1>")
    (out / "empty_title.html").write_text(page, encoding="utf-8")
    return Case("empty_title", "empty_title.html", "doc", "empty <title> and <h1>")


@case()
def whitespace_title(out: Path) -> Case:
    page = article_html(title=" \u3000\n ", head_extra='<meta property="og:title" content="">')
    (out / "whitespace_title.html").write_text(page, encoding="utf-8")
    return Case("whitespace_title", "whitespace_title.html", "doc", "blank <title> and og:title")


@case()
def paragraphs_10k(out: Path) -> Case:
    paras = "\n".join(f"<p>第{i}条 {PARAGRAPHS[i % len(PARAGRAPHS)]}</p>" for i in range(10_000))
    (out / "paragraphs_10k.html").write_text(article_html(paras), encoding="utf-8")
    return Case("paragraphs_10k", "paragraphs_10k.html", "doc", "10,000 paragraphs in HTML")


@case()
def lines_10k(out: Path) -> Case:
    lines = "\n".join(PARAGRAPHS[i % len(PARAGRAPHS)] for i in range(10_000))
    (out / "lines_10k.txt").write_text(TITLE + "\n" + lines + "\n", encoding="utf-8")
    return Case("lines_10k", "lines_10k.txt", "doc", "10,000 lines of flattened text")


@case()
def blocks_over_limit(out: Path) -> Case:
    lines = "\n".join(f"{i}" for i in range(60_000))
    (out / "blocks_over_limit.txt").write_text(article_text() + lines + "\n", encoding="utf-8")
    return Case("blocks_over_limit", "blocks_over_limit.txt", "either", "60,000 lines, above limits.max_blocks")


@case()
def empty_file(out: Path) -> Case:
    (out / "empty.txt").write_bytes(b"")
    return Case("empty_file", "empty.txt", "error", "zero bytes")


@case()
def whitespace_only(out: Path) -> Case:
    (out / "whitespace.txt").write_bytes(" \n\t\r\n\u3000\u200b".encode("utf-8") * 100)
    return Case("whitespace_only", "whitespace.txt", "error", "only whitespace and invisible characters")


@case()
def utf16_bom(out: Path) -> Case:
    (out / "utf16.txt").write_bytes(article_text().encode("utf-16"))
    return Case("utf16_bom", "utf16.txt", "doc", "UTF-16 with a BOM", required=["数据要素市场"])


@case()
def comment_bomb(out: Path) -> Case:
    comments = "<!-- <script>alert('c')</script> 数字经济 -->" * 20_000 + "<!--" + "-" * 100_000
    (out / "comment_bomb.html").write_text(article_html(comments), encoding="utf-8")
    return Case("comment_bomb", "comment_bomb.html", "doc", "20,000 comments and an unterminated one",
                forbidden=["alert("])


@case()
def giant_attribute(out: Path) -> Case:
    attr = "x" * 5_000_000
    page = article_html(f'<p data-x="{attr}" onclick="alert(1)">附件：实施细则</p>')
    (out / "giant_attribute.html").write_text(page, encoding="utf-8")
    return Case("giant_attribute", "giant_attribute.html", "doc", "a 5 MB attribute value", forbidden=["xxxx"])


def _stream_50mb(path: Path, size: int) -> None:
    """A 50 MB HTML page streamed to disk: many sections of the article, with chrome between them."""
    head = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{TITLE}</title></head><body>\n'.encode()
    tail = b"</body></html>\n"
    chunk = ("<div class=\"section\">" + "".join(f"<p>{p}</p>" for p in PARAGRAPHS) +
             "<div class=\"share\"><a href=\"#\">分享</a></div></div>\n").encode("utf-8")
    with open(path, "wb") as fh:
        fh.write(head)
        written = len(head) + len(tail)
        n = (size - written) // len(chunk)
        for _ in range(n):
            fh.write(chunk)
        written += n * len(chunk)
        fh.write(b" " * (size - written))
        fh.write(tail)


@case(large=True)
def big_50mb(out: Path) -> Case:
    _stream_50mb(out / "big_50mb.html", 50_000_000)
    return Case("big_50mb", "big_50mb.html", "either", "a 50 MB page, just under limits.max_input_bytes", large=True)


@case(large=True)
def big_50mb_text(out: Path) -> Case:
    path = out / "big_50mb.txt"
    line = (PARAGRAPHS[1] + "\n").encode("utf-8")
    with open(path, "wb") as fh:
        for _ in range(50_000_000 // len(line)):
            fh.write(line)
    return Case("big_50mb_text", "big_50mb.txt", "doc", "50 MB of flattened text", large=True)


@case(large=True)
def over_limit(out: Path) -> Case:
    path = out / "over_limit.txt"
    with open(path, "wb") as fh:
        fh.write(article_text().encode("utf-8"))
        fh.truncate(MAX_INPUT_BYTES + 1)  # sparse: costs no disk
    return Case("over_limit", "over_limit.txt", "error", "one byte over limits.max_input_bytes", large=True)


def makers(*, large: bool) -> Iterator[CaseMaker]:
    for is_large, fn in _MAKERS:
        if large or not is_large:
            yield fn


def case_names(*, large: bool = True) -> list[str]:
    return [fn.__name__ for fn in makers(large=large)]


def build_one(name: str, out: Path) -> Case:
    out.mkdir(parents=True, exist_ok=True)
    for fn in makers(large=True):
        if fn.__name__ == name:
            return fn(out)
    raise KeyError(name)


def build(out: Path, *, large: bool = False) -> list[Case]:
    out.mkdir(parents=True, exist_ok=True)
    cases = [fn(out) for fn in makers(large=large)]
    (out / "manifest.json").write_text(json.dumps([asdict(c) for c in cases], ensure_ascii=False, indent=1),
                                       encoding="utf-8")
    return cases


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--large", action="store_true", help="also write the 50 MB and over-limit cases")
    args = ap.parse_args(argv)
    cases = build(args.out, large=args.large)
    for c in cases:
        size = (args.out / c.file).stat().st_size
        print(f"{c.name:24} {size:>12,} bytes  expect {c.expect:6}  {c.why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
