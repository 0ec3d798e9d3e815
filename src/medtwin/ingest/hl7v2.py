"""HL7 v2 ORU^R01 from bedside monitors -> :class:`ReadingBatch`; ACK and ORU^R01 builders.

Profile: HL7 v2.3-2.6 ORU^R01 as sent by monitors and gateways under IHE PCD-01 (DEC). Sources:
IHE PCD Technical Framework Vol. 2 (TF-2) section 3.1 and appendix B (OBX-3 MDC codes, OBX-4
MDS.VMD.CHAN.METRIC sub-ids, OBX-18 equipment id); HL7 v2.6 ch. 2 (MSH, MSA, ERR, escape
sequences, tables 0008 and 0357) and ch. 7 (ORU^R01, OBR, OBX, table 0085 result status); IEEE
11073-10101 nomenclature (units: partition 4, code = 262144 + term code, e.g. MDC_DIM_KILO_PASCAL
3843 -> 265987, MDC_DIM_FAHR 4416 -> 266560). python-hl7 splits segments and fields; values are
unescaped here (its unescape logs field contents and expands ``\\.sp<n>\\`` without a bound).
Rules (sentinels, time zones, statuses, ACK codes) are described in docs/hl7v2.md.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import hl7

from medtwin.core.codes import MDC_TO_CODE, CodeInfo, ValueKind, lookup
from medtwin.core.errors import ParseError, ValidationError
from medtwin.core.ids import new_id, valid_id
from medtwin.core.units import normalise_unit
from medtwin.ingest.pipeline import ReadingBatch

DEFAULT_SENTINELS = frozenset({-10000.0, -9999.0, -999.9, -999.0, -100.0, -99.9})
MAX_MESSAGE_BYTES = 1_048_576
# Codes and reference ids medtwin maps (codes.MDC_TO_CODE), plus respiration-rate variants (Rosetta).
MDC_NAMES = {
    "147842": "MDC_ECG_HEART_RATE", "149530": "MDC_PULS_OXIM_PULS_RATE", "150456": "MDC_PULS_OXIM_SAT_O2",
    "151562": "MDC_RESP_RATE", "151578": "MDC_TTHOR_RESP_RATE", "151594": "MDC_CO2_RESP_RATE",
    "150344": "MDC_TEMP", "150364": "MDC_TEMP_BODY", "150301": "MDC_PRESS_CUFF_SYS",
    "150302": "MDC_PRESS_CUFF_DIA", "150303": "MDC_PRESS_CUFF_MEAN", "150033": "MDC_PRESS_BLD_ART_SYS",
    "150034": "MDC_PRESS_BLD_ART_DIA", "150035": "MDC_PRESS_BLD_ART_MEAN",
}  # fmt: skip
_MDC: dict[str, CodeInfo] = {**MDC_TO_CODE, "151578": MDC_TO_CODE["151562"], "151594": MDC_TO_CODE["151562"]}
_MDC_BY_NAME = {name: _MDC[code] for code, name in MDC_NAMES.items()}
_GROUP_CODES = {"150300", "150032"}  # MDC_PRESS_CUFF, MDC_PRESS_BLD_ART: the metric is in OBX-4's tail
MDC_UNITS: dict[str, tuple[str, str]] = {  # MDC unit code -> (reference id, UCUM)
    "262688": ("MDC_DIM_PERCENT", "%"), "264864": ("MDC_DIM_BEAT_PER_MIN", "/min"),
    "264928": ("MDC_DIM_RESP_PER_MIN", "/min"), "266016": ("MDC_DIM_MMHG", "mm[Hg]"),
    "265987": ("MDC_DIM_KILO_PASCAL", "kPa"), "268192": ("MDC_DIM_DEGC", "Cel"),
    "266560": ("MDC_DIM_FAHR", "[degF]"), "264274": ("MDC_DIM_MILLI_G_PER_DL", "mg/dL"),
    "266866": ("MDC_DIM_MILLI_MOLE_PER_L", "mmol/L"), "263875": ("MDC_DIM_KILO_G", "kg"),
    "263904": ("MDC_DIM_LB", "[lb_av]"), "263441": ("MDC_DIM_CENTI_M", "cm"),
    "263762": ("MDC_DIM_MILLI_L", "mL"), "265216": ("MDC_DIM_L_PER_MIN", "L/min"),
}  # fmt: skip
_UNIT_BY_NAME = {name: ucum for name, ucum in MDC_UNITS.values()}
# HL7 table 0085 (OBX-11). None: no result to store (skipped, counted). Empty OBX-11 reads as final.
STATUS_MAP: dict[str, str | None] = {
    "F": "final", "U": "final", "": "final", "P": "preliminary", "R": "preliminary", "S": "preliminary",
    "C": "amended", "A": "amended", "W": "entered-in-error", "D": "entered-in-error",
    "X": None, "I": None, "N": None, "O": None,
}  # fmt: skip
ERROR_NAMES = {100: "Segment sequence error", 101: "Required field missing", 102: "Data type error",
               103: "Table value not found", 200: "Unsupported message type", 201: "Unsupported event code",
               203: "Unsupported version id", 204: "Unknown key identifier", 207: "Application internal error"}  # fmt: skip
_MDC_SYSTEMS = {"MDC", "ISO11073-10101", "URN:ISO:STD:ISO:11073:10101"}
_LOINC_SYSTEMS = {"LN", "LOINC", "HTTP://LOINC.ORG"}
_SEG_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_TS = re.compile(r"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(?:(\d\d)(?:\.(\d{1,6}))?)?(?:([+-])(\d\d)(\d\d))?")
_ESCAPE = {"F": 1, "R": 2, "S": 3, "T": 4}  # escape letter -> index in python-hl7's "\r|~^&"


@dataclass(frozen=True)
class Hl7Config:
    """Parser settings. ``default_tz`` applies to times without an offset when MSH-7 gives none (or
    ``use_msh7_offset`` is off); a ZoneInfo follows daylight saving. ``sentinels`` mean "no value"."""

    default_tz: tzinfo = UTC
    use_msh7_offset: bool = True
    sentinels: frozenset[float] = DEFAULT_SENTINELS
    reject_unmapped: bool = False  # False: OBX codes medtwin does not model are skipped, not errors
    max_bytes: int = MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class Hl7Error:
    """One refused item (or message), located HL7-style: ``OBX[3].5`` = 3rd OBX in the message, field 5."""

    segment: str
    seq: int | None
    field: int | None
    reason: str
    code: int = 102  # HL7 table 0357

    @property
    def location(self) -> str:
        where = self.segment + (f"[{self.seq}]" if self.seq is not None else "")
        return where + (f".{self.field}" if self.field is not None else "")


class Hl7Reject(ParseError):
    """The whole message is refused (ACK code AR): not HL7, bad MSH, unsupported type or version."""

    def __init__(self, reason: str, *, field: str | None = "MSH", hl7_code: int = 100) -> None:
        super().__init__(reason, field=field)
        self.hl7_code = hl7_code


@dataclass
class OruMessage:
    """A parsed ORU^R01: one batch per patient group, plus what was refused or skipped and why."""

    control_id: str
    source: str
    msh: list[str]
    encoding: str = "utf-8"
    batches: list[ReadingBatch] = field(default_factory=list)
    errors: list[Hl7Error] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (location, reason)
    where: list[tuple[int, int | None, tuple[str, int | None, int]]] = field(default_factory=list)

    @property
    def rejects(self) -> list[dict[str, Any]]:
        return [{"index": None, "field": e.location, "reason": e.reason} for e in self.errors]

    def locate(self, reject: Mapping[str, Any]) -> Hl7Error:
        """Turn an Ingestor reject (flat reading index, field name) into an HL7 location."""
        idx, name, reason = reject.get("index"), reject.get("field"), str(reject.get("reason", ""))
        if not isinstance(idx, int) or not 0 <= idx < len(self.where):
            return Hl7Error("MSH", None, None, reason, 207)
        obx, pid, time_loc = self.where[idx]
        if name == "patient":
            return Hl7Error("PID", pid, 3, reason, 204) if pid else Hl7Error("OBX", obx, 18, reason, 204)
        if name == "time":
            return Hl7Error(*time_loc, reason, 102)
        fields = {"code": (3, 103), "value": (5, 102), "unit": (6, 103), "status": (11, 103)}
        num, code = fields.get(str(name), (None, 207))
        return Hl7Error("OBX", obx, num, reason, code)


def _unescape(s: str, esc: str, seps: str) -> str:
    if not esc or esc not in s:
        return s

    def repl(m: re.Match[str]) -> str:
        seq = m.group(1)
        if seq in _ESCAPE:
            return seps[_ESCAPE[seq]]
        if seq == "E":
            return esc
        if seq[:1] == "X" and len(seq) % 2 == 1 and re.fullmatch(r"[0-9A-Fa-f]*", seq[1:]):
            return bytes.fromhex(seq[1:]).decode("latin-1")
        return " " if seq in (".br", ".sp") else ""

    return re.sub(re.escape(esc) + "([^" + re.escape(esc) + "]{0,40})" + re.escape(esc), repl, s)


def _escape(s: str) -> str:
    """Escape text for a field written with the standard encoding characters ``|^~\\&``."""
    for ch, seq in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        s = s.replace(ch, seq)
    return "".join(c if c.isprintable() else " " for c in s)


def _get(seg: Any, f: int, c: int = 1, r: int = 1) -> str:
    """Component ``c`` of repetition ``r`` of field ``f``, unescaped; "" when absent."""
    if f < 1 or f >= len(seg):
        return ""
    node: Any = seg[f]
    for i in (r, c):
        if isinstance(node, str):
            if i != 1:
                return ""
            continue
        node = node[i - 1] if i <= len(node) else ""
    while not isinstance(node, str):
        node = node[0] if len(node) else ""
    return _unescape(node, seg.esc, seg.separators).strip()


def parse_ts(value: str, default_tz: tzinfo, field: str) -> datetime:
    """HL7 TS/DTM ``YYYYMMDDHHMM[SS[.S+]][+/-ZZZZ]`` (minute precision at least) -> aware datetime."""
    m = _TS.fullmatch(value)
    if m is None:
        raise ValidationError(f"not an HL7 time YYYYMMDDHHMM[SS[.S]][+/-ZZZZ]: {value[:30]!r}", field=field)
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    tz = default_tz
    if sign:
        if int(oh) > 14 or int(om) > 59:
            raise ValidationError(f"impossible UTC offset {sign}{oh}{om}", field=field)
        tz = timezone((-1 if sign == "-" else 1) * timedelta(hours=int(oh), minutes=int(om)))
    try:
        us = int((frac or "0").ljust(6, "0"))
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), us, tzinfo=tz)
    except ValueError as exc:
        raise ValidationError(f"impossible date or time {value[:30]!r} ({exc})", field=field) from None


def _split_msh(text: str) -> list[str]:
    """MSH fields by number, leniently (also for NAKs to junk): ``out[n]`` is MSH-n."""
    start = text.find("MSH")
    seg = re.split("[\r\n]", text[start:], maxsplit=1)[0] if start >= 0 else ""
    if len(seg) < 4 or seg[3].isalnum():
        return []
    return ["MSH", seg[3], *seg[4:].split(seg[3])]


def _decode(data: bytes | str, limit: int) -> tuple[str, str]:
    if len(data) > limit:
        raise Hl7Reject(f"message larger than {limit} bytes", field="message")
    if isinstance(data, str):
        return data, "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _header(text: str) -> list[str]:
    if not text.startswith("MSH"):
        raise Hl7Reject("not an HL7 v2 message: it must start with an MSH segment")
    msh = _split_msh(text)
    enc = msh[2] if len(msh) > 2 else ""
    chars = msh[1:2] + list(enc)
    if (len(enc) not in (4, 5) or len(set(chars)) != len(chars)
            or any(c.isalnum() or c.isspace() or not c.isprintable() for c in chars)):  # fmt: skip
        raise Hl7Reject(f"invalid encoding characters in MSH-1/MSH-2: {''.join(chars)[:8]!r}", field="MSH.2")
    return msh


def _hd(seg: Any, f: int) -> str:
    ns, uid = _get(seg, f, 1), _get(seg, f, 2)
    return f"{ns}:{uid}" if ns and uid else ns or uid


def parse_oru(data: bytes | str, config: Hl7Config | None = None) -> OruMessage:
    """Parse one ORU^R01. Raises :class:`Hl7Reject` (a ParseError) only for whole-message faults;
    a bad OBX becomes an :class:`Hl7Error` in ``errors`` and the others are still mapped."""
    cfg = config or Hl7Config()
    text, encoding = _decode(data, cfg.max_bytes)
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip(" \t\r\x00")
    _header(text)
    try:
        msg = hl7.parse(text)
        segs = [(str(s[0]), s) for s in msg if len(s) and str(s[0]).strip()]
    except Exception as exc:  # a third-party parser on hostile input: any failure is a reject
        raise Hl7Reject(f"cannot split the message into segments ({type(exc).__name__})") from None
    msh = segs[0][1]
    if sum(1 for sid, _ in segs if sid == "MSH") > 1:
        raise Hl7Reject("more than one MSH: send one message per MLLP frame", hl7_code=100)
    mtype, event = _get(msh, 9, 1).upper(), _get(msh, 9, 2).upper()
    if mtype != "ORU":
        raise Hl7Reject(f"unsupported message type {mtype[:10]!r} (only ORU)", field="MSH.9", hl7_code=200)
    if event not in ("R01", ""):
        raise Hl7Reject(f"unsupported trigger event {event[:10]!r} (only R01)", field="MSH.9", hl7_code=201)
    version = _get(msh, 12)
    if version and not re.fullmatch(r"2\.\d+(\.\d+)?", version):
        raise Hl7Reject(f"unsupported HL7 version {version[:10]!r}", field="MSH.12", hl7_code=203)
    control_id = _get(msh, 10)
    if not control_id or len(control_id) > 199:
        raise Hl7Reject("MSH-10 (message control id) missing or too long", field="MSH.10", hl7_code=101)
    source = _hd(msh, 3) or _hd(msh, 4)
    if not source:
        raise Hl7Reject("MSH-3 and MSH-4 are empty: sender unknown", field="MSH.3", hl7_code=101)
    out = OruMessage(control_id, source, _split_msh(text), encoding)
    _Mapper(out, cfg, msh).run(segs[1:])
    return out


class _Mapper:
    """Walks PID / OBR / OBX in order; one ReadingBatch per PID group (OBX before any PID: no subject)."""

    def __init__(self, out: OruMessage, cfg: Hl7Config, msh: Any) -> None:
        self.out, self.cfg = out, cfg
        self.msh7 = _get(msh, 7)
        m, self.tz = _TS.fullmatch(self.msh7), cfg.default_tz
        if cfg.use_msh7_offset and m is not None and m.group(8):  # the sender's offset (HL7 2.A.22)
            with contextlib.suppress(ValidationError):
                self.tz = parse_ts(self.msh7, UTC, "MSH.7").tzinfo or UTC
        self.counts: dict[str, int] = {}
        self.obr: tuple[str, int] = ("", 0)
        self.pid: int | None = None
        self.patient = ""
        self.batch: ReadingBatch | None = None

    def run(self, segs: Sequence[tuple[str, Any]]) -> None:
        for sid, seg in segs:
            n = self.counts[sid] = self.counts.get(sid, 0) + 1
            if not _SEG_ID.fullmatch(sid):
                self.out.errors.append(Hl7Error(sid[:3] or "?", n, None, "not a segment id", 100))
            elif sid == "PID":
                self.pid, self.patient, self.batch = n, _get(seg, 3), None
            elif sid == "OBR":
                self.obr = (_get(seg, 7), n)
            elif sid == "OBX":
                try:
                    self.obx(seg, n)
                except _ItemError as exc:
                    self.out.errors.append(exc.err)
                except ValidationError as exc:
                    num = int(exc.field) if exc.field and exc.field.isdigit() else None
                    self.out.errors.append(
                        Hl7Error("OBX", n, num, exc.reason, 103 if num in (3, 6, 11) else 102)
                    )

    def new_batch(self, seg: Any) -> ReadingBatch:
        device = _get(seg, 18)
        b = ReadingBatch(source=self.out.source, msg_id=self.out.control_id, readings=[],
                         subject=self.patient or None, device=device if valid_id(device) else None,
                         index_offset=len(self.out.where))  # fmt: skip
        self.out.batches.append(b)
        return b

    def obx(self, seg: Any, n: int) -> None:
        loc = f"OBX[{n}]"
        vtype, value = _get(seg, 2).upper(), _get(seg, 5)
        if len(seg) <= 5 or not str(seg[5]).strip(" ^&~"):
            if vtype:  # an OBX without OBX-2 and OBX-5 is a PCD-01 device-hierarchy row: not a reading
                self.out.skipped.append((loc, "no value"))
            return
        flag = _get(seg, 11).upper()
        if flag not in STATUS_MAP:
            raise ValidationError(f"unknown result status {flag[:5]!r} (HL7 table 0085)", field="11")
        info = _resolve(seg)
        if info is None:
            if self.cfg.reject_unmapped:
                raise ValidationError(f"code {_get(seg, 3)[:30]!r} is not mapped in medtwin", field="3")
            self.out.skipped.append((loc, f"code {_get(seg, 3)[:30]!r} not mapped"))
            return
        status = STATUS_MAP[flag]
        if status is None:
            self.out.skipped.append((loc, f"result status {flag} (no result)"))
            return
        if info.kind is ValueKind.QUANTITY:
            if vtype == "SN":
                if _get(seg, 5, 1) not in ("", "=") or _get(seg, 5, 3):
                    raise ValidationError(f"structured numeric {str(seg[5])[:20]!r} is a range", field="5")
                value = _get(seg, 5, 2)
            elif vtype not in ("NM", "ST", ""):
                raise ValidationError(f"value type {vtype[:4]!r} is not numeric", field="2")
            if not _NUMBER.fullmatch(value):
                raise ValidationError(f"not a number: {value[:20]!r}", field="5")
            number: float | str = float(value)
            if number in self.cfg.sentinels:
                self.out.skipped.append((loc, f"sentinel {value} (no value)"))
                return
        else:
            number = value
        when, time_loc = self.time(seg, n)
        batch = self.batch or self.new_batch(seg)
        self.batch = batch
        assert isinstance(batch.readings, list)
        batch.readings.append({"code": info.ref, "value": number, "unit": _unit(seg) if isinstance(number, float) else None, "status": status,
                               "time": when.isoformat(), "id": f"{self.out.control_id}/{n}"})  # fmt: skip
        self.out.where.append((n, self.pid, time_loc))

    def time(self, seg: Any, n: int) -> tuple[datetime, tuple[str, int | None, int]]:
        for raw, loc in ((_get(seg, 14), ("OBX", n, 14)), (self.obr[0], ("OBR", self.obr[1], 7)),
                         (self.msh7, ("MSH", None, 7))):  # fmt: skip
            if raw:
                try:
                    return parse_ts(raw, self.tz, "time"), loc
                except ValidationError as exc:
                    raise _ItemError(Hl7Error(loc[0], loc[1], loc[2], exc.reason, 102)) from None
        raise _ItemError(Hl7Error("OBX", n, 14, "no time in OBX-14, OBR-7 or MSH-7", 101))


class _ItemError(Exception):
    def __init__(self, err: Hl7Error) -> None:
        super().__init__(err.reason)
        self.err = err


def _resolve(seg: Any) -> CodeInfo | None:
    """OBX-3 (then its alternate identifier, components 4-6) -> medtwin code."""
    for base in (1, 4):
        code, name, system = (_get(seg, 3, base + k) for k in range(3))
        sysu = system.upper()
        if sysu in _MDC_SYSTEMS or (not sysu and (code.isdigit() or name.startswith("MDC_"))):
            by_code, by_name = _MDC.get(code), _MDC_BY_NAME.get(name)
            if by_code and by_name and by_code is not by_name:
                raise ValidationError(f"code {code} and name {name[:30]} disagree", field="3")
            if code in _GROUP_CODES:
                by_code = _MDC.get(_get(seg, 4).rsplit(".", 1)[-1])
            info = by_code or by_name
        elif sysu in _LOINC_SYSTEMS or (not sysu and code):
            info = lookup(code, "loinc" if sysu else None) if code else None
        else:
            info = None
        if info is not None:
            return info
    return None


def _unit(seg: Any) -> str:
    code, text = _get(seg, 6, 1), _get(seg, 6, 2)
    by_code = MDC_UNITS.get(code, ("", ""))[1] or _UNIT_BY_NAME.get(code, "")
    by_name = _UNIT_BY_NAME.get(text, "")
    if by_code and by_name and by_code != by_name:
        raise ValidationError(f"unit code {code} and name {text[:30]} disagree", field="6")
    if by_code or by_name:
        return by_code or by_name
    for cand in (c for c in (code, text) if c):
        try:
            return normalise_unit(cand)
        except ValidationError:
            continue
    if not (code or text):
        return ""
    raise ValidationError(f"unknown unit {(code or text)[:30]!r}", field="6")


def _ts(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware time")
    frac = f".{when.microsecond // 100:04d}" if when.microsecond else ""
    return when.strftime("%Y%m%d%H%M%S") + frac + when.strftime("%z")


def build_ack(message: OruMessage | bytes | str | None, code: str = "AA", text: str = "", *,
              errors: Sequence[Hl7Error] = (), app: str = "MEDTWIN", now: datetime | None = None) -> str:  # fmt: skip
    """An original-mode ACK (HL7 v2.6 2.9.2): MSH with sender and receiver swapped, MSA with the
    received MSH-10, and one ERR per error (ERR-1 for v2.3/2.4 readers, ERR-2..8 for v2.5+)."""
    if isinstance(message, OruMessage):
        msh = message.msh
    else:
        raw = message.decode("latin-1") if isinstance(message, bytes) else message or ""
        msh = _split_msh(raw[:65536].replace("\n", "\r"))
    enc = msh[2] if len(msh) > 2 else ""
    comp, esc = enc[:1] or "^", enc[2:3] or "\\"
    seps = "\r" + (msh[1] if len(msh) > 1 else "|") + (enc[1:2] or "~") + comp + (enc[3:4] or "&")

    def f(n: int, c: int | None = None) -> str:
        parts = (msh[n] if n < len(msh) else "").split(comp)[:10]
        if c is not None:
            parts = parts[c - 1 : c]
        return "^".join(_escape(_unescape(p, esc, seps)[:100]) for p in parts)

    trigger = f(9, 2) if re.fullmatch(r"[A-Z0-9]{3}", f(9, 2)) else "R01"
    version = f(12, 1) if re.fullmatch(r"2\.\d+(\.\d+)?", f(12, 1)) else "2.6"
    stamp = _ts((now or datetime.now(UTC)).replace(microsecond=0))
    lines = [f"MSH|^~\\&|{f(5) or _escape(app)}|{f(6)}|{f(3)}|{f(4)}|{stamp}||ACK^{trigger}^ACK|{new_id()[:20]}|"
             f"{f(11, 1) or 'P'}|{version}",
             f"MSA|{code}|{f(10)}|{_escape(text[:200])}"]  # fmt: skip
    for e in errors[:100]:
        name = ERROR_NAMES.get(e.code, "Application error")
        where = "^".join(str(x) if x is not None else "" for x in (e.segment, e.seq or 1, e.field))
        lines.append(f"ERR|{where}^{e.code}&{name}&HL70357|{where}|{e.code}^{name}^HL70357|E||||"
                     f"{_escape((e.location + ': ' + e.reason)[:250])}")  # fmt: skip
    return "\r".join(lines) + "\r"


def _num(v: float | int | str | None) -> str:
    if v is None or isinstance(v, str):
        return _escape(v or "")
    if isinstance(v, bool) or v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {v!r}")
    return str(v) if isinstance(v, int) else format(Decimal(repr(v)), "f")


def build_oru(patient_id: str | None, readings: Sequence[tuple[str, float | int | str | None, str, datetime]],
              control_id: str, sending_app: str, *, sending_facility: str = "", receiving_app: str = "MEDTWIN",
              device_id: str = "", version: str = "2.6", message_time: datetime | None = None,
              status: str = "F") -> str:  # fmt: skip
    """Encode readings as an IHE PCD-01 style ORU^R01. Each reading is (MDC code or full OBX-3,
    value, MDC unit code or unit text or full OBX-6, aware time); value None leaves OBX-5 empty."""
    when = message_time or max((r[3] for r in readings), default=None) or datetime.now(UTC)
    hd = _escape(sending_app) + (f"^{_escape(device_id)}^EUI-64" if device_id else "")
    lines = [f"MSH|^~\\&|{hd}|{_escape(sending_facility)}|{_escape(receiving_app)}||{_ts(when)}||"
             f"ORU^R01^ORU_R01|{_escape(control_id)}|P|{version}|||AL|NE||UNICODE UTF-8|||"
             "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"]  # fmt: skip
    if patient_id is not None:
        lines += [f"PID|||{_escape(patient_id)}^^^^PI||^^^^^^U", "PV1||I"]
    lines.append(f"OBR|1|{_escape(control_id)}^{hd}|{_escape(control_id)}^{hd}|"
                 f"182777000^monitoring of patient^SCT|||{_ts(when)}")  # fmt: skip
    for i, (code, value, unit, t) in enumerate(readings, start=1):
        obx3 = code if "^" in code else f"{code}^{MDC_NAMES.get(code, '')}^MDC"
        obx6 = unit if "^" in unit else f"{unit}^{MDC_UNITS[unit][0]}^MDC" if unit in MDC_UNITS else _escape(unit)  # fmt: skip
        vt = "NM" if value is None or not isinstance(value, str) else "ST"
        eq = f"{_escape(device_id)}^EUI-64" if device_id else ""
        lines.append(f"OBX|{i}|{vt}|{obx3}|1.1.1.{i}|{_num(value)}|{obx6}|||||{status}|||{_ts(t)}||||{eq}")
    return "\r".join(lines) + "\r"


def split_messages(data: bytes) -> list[bytes]:
    """Split a file of HL7 messages (MLLP-framed, or one segment per line) into single messages;
    FHS/BHS/BTS/FTS batch envelopes are dropped."""
    if b"\x0b" in data:
        return [p.split(b"\x1c", 1)[0].strip() for p in data.split(b"\x0b")[1:] if p.strip(b"\x1c\r\n ")]
    out: list[list[bytes]] = []
    for line in data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r"):
        line = line.strip()
        if line[:3] in (b"FHS", b"BHS", b"BTS", b"FTS") or not line:
            continue
        if line.startswith(b"MSH") or not out:
            out.append([])
        out[-1].append(line)
    return [b"\r".join(m) + b"\r" for m in out]
