"""Hostile inputs through `policyminer run`: every input accounted for in run.json, and the peak RSS of the run's
process tree. One command: `python benchmarks/hostile_bench.py` (about two minutes on 2 cores).

Two batches, generated in a temporary folder from invented text (tests/fixtures/batch):
 - hostile: a tag with 300,000 attributes, 100,000 nested <div>s, a page of 200,000 paragraphs, JSONL records
   whose html/text/url are numbers, lists, objects or booleans, a JSONL line of 100,000 '[', binary junk named
   .html, a WARC.gz cut in the middle of a record, and two ordinary articles;
 - big records: 40 JSONL records of 8 MB each (an article padded with an 8 MB comment), where the window used
   to hold gigabytes.
Each batch runs with `--workers 2` and a config setting doc_timeout (default 10 s, --doc-timeout) so that the
attribute bomb is killed soon. Prints a table and writes outputs/benchmarks/hostile.json."""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "batch"


def articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of each fixture article, .txt and .html alike."""
    out = []
    for path in sorted(FIXTURES.iterdir()):
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".html":
            out.append((re.search(r"<h[12]>(.*?)</h[12]>", raw).group(1), re.findall(r"<p>(.*?)</p>", raw)))
        else:
            title, *paras = [line for line in raw.splitlines() if line.strip()]
            out.append((title, paras))
    return out


def page(title: str, paras: list[str], extra: str = "") -> str:
    return (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><div><h1>{title}</h1>"
            + "".join(f"<p>{p}</p>" for p in paras) + extra + "</div></body></html>")


def write_warc(path: Path, pages: list[tuple[str, str]]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, html in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(html.encode("utf-8")),
                                                          http_headers=headers))


def hostile_batch(folder: Path) -> int:
    """Writes the hostile inputs; returns how many inputs run.json must list."""
    arts = articles()
    folder.mkdir(parents=True)
    (title, paras), (title2, paras2) = arts[0], arts[1]
    attrs = " ".join(f"data-a{i}=x" for i in range(300_000))
    (folder / "attribute_bomb.html").write_text(page(title, paras[:2], f"<p {attrs}>附件</p>"), encoding="utf-8")
    (folder / "deep_nesting.html").write_text(page(title, ["<div>" * 100_000 + paras[0] + "</div>" * 100_000]),
                                              encoding="utf-8")
    (folder / "many_paragraphs.html").write_text(page(title2, [f"第{i}段：{paras2[i % len(paras2)][:20]}"
                                                               for i in range(200_000)]), encoding="utf-8")
    records = [{"url": "http://x.gov.cn/1", "html": 12345}, {"url": "http://x.gov.cn/2", "text": ["a", "b"]},
               {"url": "http://x.gov.cn/3", "html": {"p": 1}}, {"url": "http://x.gov.cn/4", "text": True},
               {"url": 42, "html": page(title, paras)}, {"url": "http://x.gov.cn/6", "text": "\n".join([title2, *paras2])}]
    (folder / "wrong_types.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records)
                                              + "\n" + "[" * 100_000 + "\n", encoding="utf-8")
    (folder / "junk.html").write_bytes(os.urandom(200_000))
    warc = folder / "cut.warc.gz"
    write_warc(warc, [(f"http://x.gov.cn/w{i}", page(t, ps * 5)) for i, (t, ps) in enumerate(arts[2:5])])
    data = warc.read_bytes()
    warc.write_bytes(data[:len(data) * 3 // 4])
    (folder / "plain.html").write_text(page(*arts[5]), encoding="utf-8")
    (folder / "plain2.html").write_text(page(*arts[6]), encoding="utf-8")
    return 6 + len(records) + 1 + 3  # six files, the JSONL lines and its "[" line, three WARC records


def big_records(folder: Path, n: int = 40, mb: int = 8) -> int:
    """n JSONL records of `mb` MB each: a distinct article padded with a comment."""
    arts = articles()
    folder.mkdir(parents=True)
    pad = "<!-- " + "填充" * (mb * 2**20 // 6) + " -->"
    with open(folder / "big.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            title, paras = arts[i % len(arts)]
            body = paras + [f"截至{2000 + i}年底，累计完成投资{100 + i}亿元，第{i + 1}批项目全部开工建设。"]
            fh.write(json.dumps({"url": f"http://big.gov.cn/{i}", "html": page(f"{title}（第{i + 1}期）", body, pad)},
                                ensure_ascii=False) + "\n")
    return n


def tree_rss(pid: int) -> int:
    """RSS in bytes of a process and its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def timed_run(folder: Path, out: Path, config: Path) -> dict:
    cmd = [sys.executable, "-m", "pipeline", "run", str(folder), "-o", str(out), "-w", "2", "-q",
           "--config", str(config)]
    start, peak = time.perf_counter(), 0
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    return {"wall_s": round(time.perf_counter() - start, 1), "peak_rss_mb": round(peak / 2**20), "rc": proc.returncode,
            "stderr_lines": len(proc.stderr.read().decode().splitlines())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--doc-timeout", type=int, default=10, help="limits.doc_timeout for the runs (default 10 s)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pm-hostile-"))
    config = work / "limits.toml"
    config.write_text(f"[limits]\ndoc_timeout = {args.doc_timeout}\n", encoding="utf-8")
    result = {"doc_timeout": args.doc_timeout}
    for name, make in (("hostile", hostile_batch), ("big_records", big_records)):
        expected = make(work / name)
        res = timed_run(work / name, work / f"{name}-out", config)
        run = json.loads((work / f"{name}-out" / "run.json").read_text(encoding="utf-8"))
        res.update(inputs_expected=expected, inputs_listed=run["counts"]["inputs"],
                   counts={k: run["counts"][k] for k in ("processed", "skipped", "failed", "truncated")},
                   outcomes={Path(o["input"]).name: f"{o['status']}" + (f": {o['reason']}" if o["reason"] else "")
                             for o in run["inputs"]} if name == "hostile" else None)
        result[name] = res
        print(f"{name}: {res['inputs_listed']} of {expected} inputs in run.json {res['counts']}; "
              f"peak RSS {res['peak_rss_mb']} MB; {res['wall_s']} s; exit {res['rc']}", flush=True)
        for key, what in (res["outcomes"] or {}).items():
            print(f"  {key}: {what[:110]}")
    out = ROOT / "outputs" / "benchmarks" / "hostile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if all(result[n]["inputs_listed"] == result[n]["inputs_expected"] for n in ("hostile", "big_records")) else 1


if __name__ == "__main__":
    sys.exit(main())
