"""Tell what an input is (HTML, flattened text, JSONL of crawl records) and decode its bytes."""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Optional

from bs4.dammit import EncodingDetector

# GB2312 and GBK are subsets of GB18030: decoding as GB18030 never loses characters they can encode.
_CANONICAL = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
              "euc-cn": "gb18030", "hz-gb-2312": "gb18030", "big5": "big5hkscs", "big5-hkscs": "big5hkscs",
              "cp950": "big5hkscs", "utf8": "utf-8", "utf-8": "utf-8", "ascii": "utf-8", "us-ascii": "utf-8",
              "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin-1": "cp1252", "windows-1252": "cp1252", "utf-16": "utf-16"}
# The declared charset is read by beautifulsoup4's EncodingDetector (<meta charset>, <meta http-equiv> and an XML
# declaration) in the page's first bytes; the decoding itself is checked below, as declarations often lie.
DECLARATION_BYTES = 4096
# Codecs Python has that are not web charsets, and whose decoders raise errors other than UnicodeDecodeError.
_NOT_CHARSETS = {"idna", "punycode", "utf-7", "mbcs", "oem", "unicode-escape", "raw-unicode-escape", "undefined"}
# Printable ASCII plus the escapes of unicode-escape and UTF-7: an ASCII-compatible codec reads it unchanged.
_ASCII_PROBE = bytes(range(0x20, 0x7f)) + b"\\u4e2d\\x41+AGE-"
_HTML_SNIFF = re.compile(r"<\s*(!doctype\s+html|html|head|body|meta|div|p|title|table|span|br)\b", re.I)


# The most frequent characters of modern written Chinese, simplified and traditional forms (written out for
# this module from general frequency knowledge; the top hundred cover about 40% of running text). A decoding
# that yields many of them is the right one; mojibake yields almost none. Used to tell GB18030 from Big5
# when both decode the bytes without error, which happens often.
_COMMON = set("的一是不了在人有我他这個个们們中来來上大为為和国國地到以说說时時要就出会會可也你对對生能而子那得"
              "于於着著下自之年过過发發后後作里裡用道行所然家种種事成方多经經么麼去法学學如都同现現当當没沒动動"
              "面起看定天分还還进進好小部其些主样樣理心本前开開但因只从從想实實日军軍者意无無力它与與长長把机機"
              "十民第公此已工使情明性知全三又关關点點正业業外将將两兩高间間由问問很最重并並物手应應战戰向头頭文"
              "体體政美相见見被利什二等产產或新己制製身果加西斯月话話合回特代内內信表化老给給世位次度门門任常先"
              "海通教儿兒原东東声聲提立及比员員解水名真论論处處走义義各入几幾口认認条條平系系气氣题題活尔爾更别別"
              "打女变變四神总總何电電数數安少报報才结結反受目太量再感建务務做接必场場件计計管期市直德资資命山金"
              "指克许許统統区區保至队隊形社便空决決治展马馬科司五基眼书書非则則听聽白却界达達光放强強即像难難且"
              "权權思王象完设設式色路记記南品住告类類求据據程北边邊死张張该該交规規万萬取拉格望觉覺术術领領共确"
              "確传傳师師观觀清今切院让讓识識候带帶导導争爭运運笑飞飛风風步改收根干幹造言联聯持组組每济濟车車亲"
              "親极極林服快办辦议議往元英士证證近失转轉夫令准準布始怎呢存未远遠叫台单單影具罗羅字爱愛击擊流备備"
              "兵连連调調深商算质質团團集百需价價花党黨华華城石级級整府离離况況亚亞请請技际際约約示复復病息究线"
              "線似官火断斷精满滿支视視消越器容照须須九增研写寫称稱企八功吗嗎包片史委乎查轻輕易早曾除农農找装裝"
              "广廣显顯吧阿李标標谈談吃图圖念六引历歷首医醫局突专專费費号號尽盡另周较較注语語仅僅考落青随隨选選"
              "列武红紅响響虽雖推势勢参參希古众眾构構房半节節土投某案黑维維革划劃敌敵致陈陳律足态態护護七兴興派"
              "孩验驗责責营營星够夠章音跟志底站严嚴巴例防族供效续續施留讲講型料终終答紧緊黄黃绝絕奇察母京段依批"
              "群项項故按河米围圍江织織害斗鬥双雙境客纪紀采採举舉杀殺攻父苏蘇密低朝友诉訴止细細愿願千值仍男钱錢"
              "破网網热熱助倒育属屬坐帝限船脸臉职職速刻乐樂否刚剛威毛状狀率甚独獨球般普怕弹彈校苦创創假久错錯承"
              "印晚兰蘭试試股拿脑腦预預谁誰益阳陽若哪微尼继繼送急血惊驚伤傷素药藥适適波夜省初喜卫衛源食险險待述"
              "陆陸习習置居劳勞财財环環排福纳納欢歡雷警获獲模充负負云雲停木游遊龙龍树樹疑层層冷洲冲衝射略范範竟"
              "句室异異激汉漢村哈策演简簡卡罪判担擔州静靜退既衣您宗积積余餘痛检檢差富灵靈协協角占配征修皮挥揮胜"
              "勝降阶階审審沉坚堅善妈媽刘劉读讀啊超免压壓银銀买買皇养養伊怀懷执執副乱亂抗犯追帮幫宣佛岁歲航优優"
              "怪香著田铁鐵控税稅左右份穿艺藝背阵陣草脚腳概恶惡块塊顿頓敢守酒岛島托央户戶烈洋哥索胡款靠评評版宝"
              "寶座释釋景顾顧弟登货貨互付伯慢欧歐换換闻聞危忙核暗姐介坏壞讨討丽麗良序升监監临臨亮露永呼味野架域"
              "沙掉括舰艦鱼魚杂雜误誤湾灣吉减減编編楚肯测測败敗屋跑梦夢散温溫困剑劍渐漸封救贵貴枪槍缺楼樓县縣尚"
              "毫移娘朋画畫班智亦耳恩短掌恐遗遺固席松秘谢謝鲁魯遇康虑慮幸均销銷钟鐘诗詩藏赶趕剧劇票损損忽巨炮旧"
              "舊端探湖录錄叶葉春乡鄉附吸予礼禮港雨呀板庭妇婦归歸睛饭飯额額含顺順输輸摇搖招婚脱脫补補谓謂督毒油"
              "疗療旅泽澤材灭滅逐莫笔筆亡鲜鮮词詞圣聖择擇寻尋厂廠睡博勒烟煙授诺諾伦倫岸奥奧唐卖賣俄炸载載洛健堂"
              "旁宫宮喝借君禁阴陰园園谋謀宋避抓荣榮姑孙孫逃牙束跳顶頂玉镇鎮雪午练練迫爷爺篇肉嘴馆館遍凡础礎洞卷"
              "坦牛宁寧纸紙诸諸训訓私庄莊祖丝絲翻暴森塔默握戏戲隐隱熟骨访訪弱蒙歌店鬼软軟典欲萨薩伙遭盘盤爸扩擴"
              "盖蓋弄雄稳穩忘亿億刺拥擁徒姆杨楊齐齊赛賽趣曲刀床迎冰虚虛玩析窗醒妻透购購替塞努休虎扬揚途侵刑绿綠"
              "兄迅套贸貿毕畢唯谷轮輪库庫迹跡尤竞競街促延震弃棄甲伟偉麻川申缓緩潜潛闪閃售灯燈针針哲络絡抵朱埃抱"
              "鼓植纯純夏忍页頁杰筑築折郑鄭贝貝尊吴吳秀混臣雅振染盛怒舞圆圓搞狂措姓残殘秋培迷诚誠宽寬宇猛摆擺梅"
              "毁毀伸摩盟末乃悲拍丁赵趙策")


def _common_share(text: str) -> float:
    """Share of the non-ASCII characters of text that are frequent Chinese characters."""
    wide = [c for c in text if c > "\x7f" and not c.isspace()]
    if not wide:
        return 0.0
    return sum(c in _COMMON for c in wide) / len(wide)


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # a Python codec name, or "utf-8+gb18030" for a file mixing the two line by line
    declared: Optional[str]  # what <meta> or the BOM said, if anything
    method: str  # bom | meta | sniffed | utf-8 | mixed


def canonical_encoding(name: Optional[str]) -> Optional[str]:
    """A charset label as the codec we decode it with: GB2312 and GBK read as GB18030, Big5 as Big5-HKSCS.
    None for unknown labels and for codecs that do not read ASCII as ASCII (UTF-7, unicode-escape, EBCDIC,
    UTF-16 without BOM): a label found in ASCII <meta> cannot be right about those, and a hostile page could
    use them to smuggle markup past the parser."""
    if not name:
        return None
    key = name.strip().lower().replace("_", "-")
    try:
        key = codecs.lookup(key).name if key not in _CANONICAL else key
    except LookupError:
        return None
    key = _CANONICAL.get(key, key)
    if key in _NOT_CHARSETS:
        return None
    if key == "utf-16":
        return key  # only reached from a BOM
    try:
        if _ASCII_PROBE.decode(key) != _ASCII_PROBE.decode("latin-1"):
            return None
    except (UnicodeError, LookupError):
        return None
    return key


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except (UnicodeError, LookupError):
        return False


def _cjk_utf8_line(line: bytes) -> bool:
    """A line that is valid UTF-8 with Chinese in it (three-byte sequences). GBK text almost never is."""
    if line.isascii():
        return False
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    wide = [c for c in text if c > "\x7f"]
    return sum("\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" for c in wide) >= max(2, len(wide) // 2)


def _decode_mixed(raw: bytes) -> Optional[str]:
    """A file whose lines are in UTF-8 or in GB18030 (templates and content from different systems), decoded
    line by line. None when the file is not such a mix."""
    lines = raw.split(b"\n")
    utf8 = [_cjk_utf8_line(line) for line in lines]
    if not any(utf8) or all(u or line.isascii() for u, line in zip(utf8, lines)):
        return None
    return "\n".join(line.decode("utf-8") if u else line.decode("gb18030", errors="replace")
                     for u, line in zip(utf8, lines))


def decode_bytes(raw: bytes, *, sniff_bytes: int = 200000) -> Decoded:
    """Decode with the BOM first, then UTF-8 when the bytes are valid UTF-8, then a <meta> charset or a
    choice between GB18030 and Big5 by how Chinese the result reads, then a detector.

    Valid UTF-8 with multi-byte sequences is taken as UTF-8 whatever a <meta> says (a GBK-declared page whose
    bytes are UTF-8 lies). A declared charset that fails to decode the bytes is overruled. Files with a few bad
    bytes (truncated downloads) or with lines in two encodings are decoded with replacement characters.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return Decoded(raw.decode(enc, errors="replace"), enc.replace("-sig", ""), enc.replace("-sig", ""), "bom")
    meta = EncodingDetector.find_declared_encoding(raw[:DECLARATION_BYTES], is_html=True)
    declared = canonical_encoding(meta) if meta else None
    if declared in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        declared = None  # a <meta> readable as ASCII cannot be in UTF-16: the page was re-encoded
    if raw.isascii():
        enc = declared if declared and _decodes(raw, declared) else "utf-8"
        return Decoded(raw.decode(enc), enc, declared, "meta" if enc == declared else "utf-8")
    if _decodes(raw, "utf-8"):
        return Decoded(raw.decode("utf-8"), "utf-8", declared,
                       "meta" if declared == "utf-8" else "utf-8" if declared is None else "sniffed")
    mixed = _decode_mixed(raw)
    if mixed is not None:
        return Decoded(mixed, "utf-8+gb18030", declared, "mixed")
    head = raw[:sniff_bytes]
    candidates = [e for e in dict.fromkeys((declared, "gb18030", "big5hkscs")) if e and e != "utf-8"
                  and _decodes(raw, e)]
    if candidates:
        scores = {e: _common_share(head.decode(e, errors="ignore")) for e in candidates}
        best = max(candidates, key=lambda e: scores[e])
        # The declared charset keeps the page unless another reads clearly more like Chinese.
        if declared in scores and scores[best] < scores[declared] + 0.1:
            best = declared
        return Decoded(raw.decode(best), best, declared, "meta" if best == declared else "sniffed")
    guess = _detect(head)
    candidates = [e for e in dict.fromkeys((guess, declared, "gb18030", "big5hkscs", "utf-8")) if e]
    # A few bad bytes (truncated downloads, a stray byte): the decoding with the fewest replacement
    # characters, then the most Chinese-looking one.
    decoded = {e: raw.decode(e, errors="replace") for e in candidates}
    best = min(candidates, key=lambda e: (decoded[e].count("\ufffd"), -_common_share(decoded[e][:sniff_bytes])))
    return Decoded(decoded[best], best, declared, "sniffed")


def _detect(raw: bytes) -> Optional[str]:
    from charset_normalizer import from_bytes

    match = from_bytes(raw, cp_isolation=["utf_8", "gb18030", "big5", "gbk", "gb2312", "cp1252"]).best()
    return canonical_encoding(match.encoding) if match else None


_NOT_CONTROL = bytes(b for b in range(256) if not (b < 9 or 13 < b < 32))


def looks_binary(raw: bytes) -> bool:
    """Binary files (images, PDFs, archives) by their magic numbers, or by NULs and control bytes in the head.

    Text in any encoding we read has next to no bytes below 0x20 other than tab and line ends (multi-byte
    sequences of UTF-8, GBK and Big5 never use them), so a share of 3% NULs or 5% control bytes is binary.
    A few stray NULs, as broken exports leave, are not: ingest removes them. UTF-16/32 with a BOM is text."""
    head = raw[:4096]
    if not head:
        return False
    if head.startswith((b"%PDF", b"\x89PNG", b"PK\x03\x04", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"BZh",
                        b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"\xd0\xcf\x11\xe0", b"\x7fELF", b"MZ")):
        return True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return False
    nuls = head.count(0)
    controls = len(head.translate(None, _NOT_CONTROL))  # what is left after deleting every other byte
    return nuls > len(head) * 0.03 or controls > len(head) * 0.05


def detect_kind(text: str, name: str = "") -> str:
    """'html', 'jsonl' (crawl records {url, html|text}) or 'text'."""
    lower = name.lower()
    if lower.endswith((".html", ".htm", ".shtml", ".xhtml")):
        return "html"
    head = text.lstrip()[:2000]
    if lower.endswith(".jsonl") or (head.startswith("{") and ('"html"' in head or '"text"' in head) and '"url"' in head):
        return "jsonl"
    if len(_HTML_SNIFF.findall(head)) >= 2 or head.lower().startswith(("<!doctype html", "<html")):
        return "html"
    return "text"
