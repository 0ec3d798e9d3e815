"""HL7 v2 ORU^R01 parsing, mapping, ACKs and MLLP framing, with synthetic golden messages in the
style of IHE PCD-01 (DEC) and Mindray eGateway, plus bounded hypothesis fuzzing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medtwin.core.clock import ManualClock
from medtwin.core.errors import StoreError, ValidationError
from medtwin.core.model import Observation, Twin, TwinKind
from medtwin.ingest import hl7v2
from medtwin.ingest.hl7v2 import Hl7Config, Hl7Error, Hl7Reject, build_ack, build_oru, parse_oru, parse_ts
from medtwin.ingest.mllp import Hl7Receiver, MllpDecoder, frame
from medtwin.ingest.pipeline import Ingestor, IngestResult

MSH = "MSH|^~\\&|MINDRAY_EGATEWAY^00A0370027000143^EUI-64|ICU-A|MEDTWIN|HOSP|20260314100000+0100||ORU^R01^ORU_R01|15419|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
PCD01 = "\r".join([
    MSH,
    "PID|||P001^^^HOSP^PI||^^^^^^U",
    "PV1||I|ICU^^BED1",
    "OBR|1|15419^MINDRAY_EGATEWAY^00A0370027000143^EUI-64|15419^MINDRAY_EGATEWAY^00A0370027000143^EUI-64|182777000^monitoring of patient^SCT|||20260314095900+0100",
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X",
    "OBX|2||69798^MDC_DEV_ECG_VMD^MDC|1.7.0.0|||||||X",
    "OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.7.4.147842|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20260314095958+0100||||00A0370027000143^EUI-64",
    "OBX|4|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|97|262688^MDC_DIM_PERCENT^MDC|||||R|||20260314095958+0100",
    "OBX|5|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.149530|-100|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||20260314095958+0100",
    "OBX|6|NM|151562^MDC_RESP_RATE^MDC|1.7.1.151562|16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||20260314095958+0100",
    "OBX|7|NM|150344^MDC_TEMP^MDC|1.2.1.150344|-99.9|268192^MDC_DIM_DEGC^MDC|||||R|||20260314095958+0100",
    "OBX|8|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|128|266016^MDC_DIM_MMHG^MDC|||||F|||20260314095500+0100",
    "OBX|9|NM|150302^MDC_PRESS_CUFF_DIA^MDC|1.1.9.150302|-999|266016^MDC_DIM_MMHG^MDC|||||F|||20260314095500+0100",
    "OBX|10|NM|150303^MDC_PRESS_CUFF_MEAN^MDC|1.1.9.150303|94|266016^MDC_DIM_MMHG^MDC|||||F|||20260314095500+0100",
    "OBX|11|NM|151712^MDC_CONC_AWAY_CO2_EXP^MDC|1.11.1.1|38|266016^MDC_DIM_MMHG^MDC|||||R|||20260314095958+0100",
])  # fmt: skip
# A monitor sending directly (model name + EUI-64 in MSH-3), v2.4, no PID-3, every value a sentinel.
XH80X = "\r".join([
    "MSH|^~\\&|XH80X^00A037009B000000^EUI-64||||20260314102047||ORU^R01^ORU_R01|41|P|2.4|||AL|NE||UNICODE UTF-8",
    "PID|||^^^^PI||^^^^^^L|||||", "PV1||I|^^^",
    "OBR|1|41^XH80X^00A037009B000000^EUI-64|41^XH80X^00A037009B000000^EUI-64|182777000^monitoring of patient^SCT|||20260314102047",
    "OBX|1|NM|150301^MDC_PRESS_CUFF_SYS^MDC|1.1.9.150301|-999|266016^MDC_DIM_MMHG^MDC||||||||20260314102047",
    "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|-999|262688^MDC_DIM_PERCENT^MDC||||||||20260314102047",
    "OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.7.4.147842|-100|264864^MDC_DIM_BEAT_PER_MIN^MDC||||||||20260314102047",
    "OBX|4|NM|150344^MDC_TEMP^MDC|1.13.1.150344|-99.9|268192^MDC_DIM_DEGC^MDC||||||||20260314102047",
])  # fmt: skip
HEAD = "MSH|^~\\&|MON|WARD|||20260314100000||ORU^R01|M1|P|2.5\rPID|||P001\rOBR|1|||x|||20260314095000\r"


def obx(
    n: int, code: str, value: str, unit: str = "", status: str = "F", ts: str = "", vt: str = "NM"
) -> str:
    return f"OBX|{n}|{vt}|{code}|1.1.1.{n}|{value}|{unit}|||||{status}|||{ts}"


def one(segment: str, **cfg: Any) -> hl7v2.OruMessage:
    return parse_oru(HEAD + segment, Hl7Config(**cfg))


def readings(m: hl7v2.OruMessage) -> list[dict[str, Any]]:
    return [dict(r) for b in m.batches for r in b.readings]


# ------------------------------------------------------------------ golden messages
def test_pcd01_golden_maps_codes_units_times_and_ids() -> None:
    m = parse_oru(PCD01.encode())
    assert (m.control_id, m.source) == ("15419", "MINDRAY_EGATEWAY:00A0370027000143")
    [b] = m.batches
    assert (b.subject, b.source, b.msg_id, b.index_offset) == ("P001", m.source, "15419", 0)
    assert b.device == "00A0370027000143"
    got = [(r["code"], r["value"], r["unit"], r["status"], r["id"]) for r in b.readings]
    assert got == [
        ("8867-4", 72.0, "/min", "preliminary", "15419/3"),
        ("2708-6", 97.0, "%", "preliminary", "15419/4"),
        ("9279-1", 16.0, "/min", "preliminary", "15419/6"),
        ("8480-6", 128.0, "mm[Hg]", "final", "15419/8"),
        ("8478-0", 94.0, "mm[Hg]", "final", "15419/10"),
    ]
    assert b.readings[0]["time"] == "2026-03-14T09:59:58+01:00"
    assert m.errors == []


def test_sentinels_are_skipped_and_counted_never_zero() -> None:
    m = parse_oru(PCD01)
    assert m.skipped == [("OBX[5]", "sentinel -100 (no value)"), ("OBX[7]", "sentinel -99.9 (no value)"),
                         ("OBX[9]", "sentinel -999 (no value)"), ("OBX[11]", "code '151712' not mapped")]  # fmt: skip
    assert all(r["value"] not in (0, -100, -99.9, -999) for r in readings(m))
    direct = parse_oru(XH80X)
    assert direct.batches == [] and direct.errors == [] and len(direct.skipped) == 4
    assert direct.source == "XH80X:00A037009B000000"


def test_sentinel_set_is_configurable() -> None:
    m = one(obx(1, "147842^^MDC", "-1") + "\r" + obx(2, "147842^^MDC", "-999"), sentinels=frozenset({-1.0}))
    assert [s[0] for s in m.skipped] == ["OBX[1]"]
    assert [r["value"] for r in readings(m)] == [-999.0]  # now a reading: the Ingestor's bounds refuse it


def test_idempotency_keys_stable_across_resends() -> None:
    ids = [[r["id"] for r in readings(parse_oru(PCD01))] for _ in range(2)]
    assert ids[0] == ids[1] and len(set(ids[0])) == len(ids[0])


def test_several_patients_and_obr_groups() -> None:
    msg = "\r".join([
        "MSH|^~\\&|GW||||20260314100000+0000||ORU^R01|G7|P|2.5",
        "PID|1||PA^^^H^MR~OTHER^^^X", "OBR|1|||x|||20260314095000",
        "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||80|bpm|||||F",
        "OBR|2|||x|||20260314095500", "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||95|%|||||F",
        "PID|2||PB", "OBR|1|||x|||20260314095600",
        "OBX|1|NM|8867-4^Heart rate^LN||61|/min|||||F", "OBX|2|NM|8480-6^SBP^LN||118|mm[Hg]|||||F",
    ])  # fmt: skip
    m = parse_oru(msg)
    assert [(b.subject, b.index_offset, len(b.readings)) for b in m.batches] == [("PA", 0, 2), ("PB", 2, 2)]
    rs = readings(m)
    assert [r["id"] for r in rs] == [
        "G7/1",
        "G7/2",
        "G7/3",
        "G7/4",
    ]  # set ids repeat: ordinal keeps keys unique
    assert [r["time"][:19] for r in rs] == ["2026-03-14T09:50:00", "2026-03-14T09:55:00",
                                            "2026-03-14T09:56:00", "2026-03-14T09:56:00"]  # fmt: skip
    assert m.locate({"index": 3, "field": "patient", "reason": "unknown"}).location == "PID[2].3"
    assert m.locate({"index": 1, "field": "time", "reason": "future"}).location == "OBR[2].7"
    assert m.locate({"index": 2, "field": "value", "reason": "range"}).location == "OBX[3].5"


def test_obx_before_any_pid_uses_the_device() -> None:
    m = parse_oru("MSH|^~\\&|MON||||20260314100000||ORU^R01|D1|P|2.6\r"
                  + obx(1, "147842^^MDC", "70", ts="20260314095900") + "||||MON-7^EUI-64")  # fmt: skip
    [b] = m.batches
    assert (b.subject, b.device) == (None, "MON-7")
    assert m.locate({"index": 0, "field": "patient", "reason": "x"}).location == "OBX[1].18"


def test_source_falls_back_to_facility() -> None:
    assert parse_oru("MSH|^~\\&||WARD9|||||ORU^R01|Z|P|2.3\r").source == "WARD9"


# ------------------------------------------------------------------ codes
@pytest.mark.parametrize(("obx3", "obx4", "ref"), [
    ("150301^MDC_PRESS_CUFF_SYS^MDC", "", "8480-6"),
    ("150302^MDC_PRESS_CUFF_DIA^MDC", "", "8462-4"),
    ("150303^MDC_PRESS_CUFF_MEAN^MDC", "", "8478-0"),
    ("150300^MDC_PRESS_CUFF^MDC", "1.1.9.150302", "8462-4"),  # NIBP group code, metric in OBX-4
    ("150031^MDC_PRESS_CUFF_SYS^MDC", "1.1.9.150301", "8480-6"),  # vendor typo in the number: name wins
    ("^MDC_ECG_HEART_RATE^MDC", "", "8867-4"),
    ("151578^MDC_TTHOR_RESP_RATE^MDC", "", "9279-1"),
    ("150033^MDC_PRESS_BLD_ART_SYS^MDC", "", "8480-6"),
    ("8867-4^Heart rate^LN", "", "8867-4"),
    ("59408-5^SpO2 by pulse oximetry^LN", "", "2708-6"),
    ("HR^Heart rate^99VND^147842^MDC_ECG_HEART_RATE^MDC", "", "8867-4"),  # alternate identifier
    ("147842", "", "8867-4"),  # no coding system: a bare MDC number
])  # fmt: skip
def test_code_mapping(obx3: str, obx4: str, ref: str) -> None:
    m = one(f"OBX|1|NM|{obx3}|{obx4}|80|266016^MDC_DIM_MMHG^MDC|||||F")
    assert [r["code"] for r in readings(m)] == [ref], m.errors


def test_code_and_name_that_disagree_are_an_error_on_obx3() -> None:
    m = one(obx(1, "150301^MDC_PRESS_CUFF_DIA^MDC", "80"))
    assert [(e.location, e.code) for e in m.errors] == [("OBX[1].3", 103)]


def test_unmapped_codes_skip_or_reject() -> None:
    seg = obx(1, "151712^MDC_CONC_AWAY_CO2_EXP^MDC", "38", "266016^MDC_DIM_MMHG^MDC")
    assert one(seg).skipped == [("OBX[1]", "code '151712' not mapped")]
    strict = one(seg, reject_unmapped=True)
    assert [e.location for e in strict.errors] == ["OBX[1].3"] and strict.skipped == []


# ------------------------------------------------------------------ units
@pytest.mark.parametrize(("obx6", "ucum"), [
    ("264864^MDC_DIM_BEAT_PER_MIN^MDC", "/min"), ("264928^MDC_DIM_RESP_PER_MIN^MDC", "/min"),
    ("262688^MDC_DIM_PERCENT^MDC", "%"), ("268192^MDC_DIM_DEGC^MDC", "Cel"),
    ("266016^MDC_DIM_MMHG^MDC", "mm[Hg]"), ("265987^MDC_DIM_KILO_PASCAL^MDC", "kPa"),
    ("266560^MDC_DIM_FAHR^MDC", "[degF]"), ("^MDC_DIM_BEAT_PER_MIN", "/min"), ("264864^/min^MDC", "/min"),
    ("bpm", "/min"), ("mmHg", "mm[Hg]"), ("/min^^UCUM", "/min"), ("^\\X25\\", "%"), ("", ""),
])  # fmt: skip
def test_unit_mapping(obx6: str, ucum: str) -> None:
    m = one(obx(1, "147842^^MDC", "60", obx6))
    assert [r["unit"] for r in readings(m)] == [ucum], m.errors


@pytest.mark.parametrize(("obx6", "reason"), [
    ("999999^MDC_DIM_WHATEVER^MDC", "unknown unit '999999'"),
    ("266016^MDC_DIM_PERCENT^MDC", "unit code 266016 and name MDC_DIM_PERCENT disagree"),
])  # fmt: skip
def test_bad_units_name_obx6(obx6: str, reason: str) -> None:
    assert [(e.location, e.reason) for e in one(obx(2, "147842^^MDC", "60", obx6)).errors] == [
        ("OBX[1].6", reason)
    ]


# ------------------------------------------------------------------ times
@pytest.mark.parametrize(("msh7", "obx14", "cfg", "iso"), [
    ("20260314100000+0100", "20260314095958-0500", {}, "2026-03-14T09:59:58-05:00"),
    ("20260314100000+0100", "20260314095958", {}, "2026-03-14T09:59:58+01:00"),  # sender's offset from MSH-7
    ("20260314100000", "20260314095958", {}, "2026-03-14T09:59:58+00:00"),  # default UTC
    ("20260314100000+0100", "20260314095958", {"use_msh7_offset": False}, "2026-03-14T09:59:58+00:00"),
    ("20260314100000", "202607010800", {"default_tz": ZoneInfo("Europe/Paris")}, "2026-07-01T08:00:00+02:00"),
    ("20260314100000", "202601010800", {"default_tz": ZoneInfo("Europe/Paris")}, "2026-01-01T08:00:00+01:00"),
    ("20260314100000", "20260314095958.1234+0000", {}, "2026-03-14T09:59:58.123400+00:00"),
    ("20260314100000", "20260314095958-0030", {}, "2026-03-14T09:59:58-00:30"),  # python-hl7 gets this sign wrong
    ("20260314100000", "20260314095958^S", {}, "2026-03-14T09:59:58+00:00"),  # v2.3 TS degree of precision
    ("20260314100000+0100", "", {}, "2026-03-14T10:00:00+01:00"),  # falls back to MSH-7
])  # fmt: skip
def test_observation_time(msh7: str, obx14: str, cfg: dict[str, Any], iso: str) -> None:
    m = parse_oru(f"MSH|^~\\&|MON||||{msh7}||ORU^R01|T|P|2.6\rPID|||P1\r" + obx(1, "147842^^MDC", "60", ts=obx14),
                  Hl7Config(**cfg))  # fmt: skip
    assert [r["time"] for r in readings(m)] == [iso], m.errors
    assert datetime.fromisoformat(iso).tzinfo is not None


@pytest.mark.parametrize(("segments", "where", "reason"), [
    (obx(1, "147842^^MDC", "60", ts="2026031409"), "OBX[1].14", "not an HL7 time"),
    (obx(1, "147842^^MDC", "60", ts="20260230120000"), "OBX[1].14", "impossible date or time"),
    (obx(1, "147842^^MDC", "60", ts="20260314120000+2500"), "OBX[1].14", "impossible UTC offset"),
])  # fmt: skip
def test_bad_times_name_the_field(segments: str, where: str, reason: str) -> None:
    [e] = one(segments).errors
    assert e.location == where and e.reason.startswith(reason)


def test_bad_obr_time_is_reported_on_obr7() -> None:
    m = parse_oru(
        "MSH|^~\\&|MON||||x||ORU^R01|T|P|2.6\rPID|||P1\rOBR|1|||x|||yesterday\r" + obx(1, "147842^^MDC", "6")
    )
    assert [e.location for e in m.errors] == ["OBR[1].7"]
    m = parse_oru("MSH|^~\\&|MON||||||ORU^R01|T|P|2.6\rPID|||P1\r" + obx(1, "147842^^MDC", "6"))
    assert [(e.location, e.code) for e in m.errors] == [("OBX[1].14", 101)]


def test_parse_ts_rejects_naive_results_never() -> None:
    assert parse_ts("202603141000", UTC, "t").tzinfo is UTC
    assert parse_ts("202603141000+0530", UTC, "t").utcoffset() == timedelta(hours=5, minutes=30)
    with pytest.raises(ValidationError):
        parse_ts("2026", UTC, "t")


# ------------------------------------------------------------------ statuses and values
@pytest.mark.parametrize(("flag", "status"), [
    ("F", "final"), ("", "final"), ("U", "final"), ("P", "preliminary"), ("R", "preliminary"),
    ("S", "preliminary"), ("C", "amended"), ("A", "amended"), ("W", "entered-in-error"), ("D", "entered-in-error"),
])  # fmt: skip
def test_result_status(flag: str, status: str) -> None:
    assert [r["status"] for r in readings(one(obx(1, "147842^^MDC", "60", status=flag)))] == [status]


@pytest.mark.parametrize("flag", ["X", "I", "N", "O"])
def test_no_result_statuses_are_skipped(flag: str) -> None:
    m = one(obx(1, "147842^^MDC", "60", status=flag))
    assert readings(m) == [] and m.errors == [] and m.skipped[0][0] == "OBX[1]"


@pytest.mark.parametrize(("segment", "where", "reason"), [
    (obx(1, "147842^^MDC", "abc"), "OBX[1].5", "not a number: 'abc'"),
    (obx(1, "147842^^MDC", "1e5"), "OBX[1].5", "not a number: '1e5'"),
    (obx(1, "147842^^MDC", "NaN"), "OBX[1].5", "not a number: 'NaN'"),
    (obx(1, "147842^^MDC", "60", status="Q"), "OBX[1].11", "unknown result status 'Q' (HL7 table 0085)"),
    (obx(1, "147842^^MDC", "1^2", vt="NA"), "OBX[1].2", "value type 'NA' is not numeric"),
    (obx(1, "147842^^MDC", ">^100", vt="SN"), "OBX[1].5", "structured numeric '>^100' is a range"),
])  # fmt: skip
def test_bad_items_are_named_by_segment_and_field(segment: str, where: str, reason: str) -> None:
    m = one(obx(7, "150456^^MDC", "97") + "\r" + segment)
    assert [(e.location, e.reason) for e in m.errors] == [(where.replace("[1]", "[2]"), reason)]
    assert [r["value"] for r in readings(m)] == [97.0]  # the valid item is still mapped


def test_numeric_forms_and_empty_values() -> None:
    m = one("\r".join([obx(1, "147842^^MDC", "+72.50"), obx(2, "147842^^MDC", "^73", vt="SN"),
                       obx(3, "147842^^MDC", "=^74", vt="SN"), obx(4, "147842^^MDC", ""),
                       obx(5, "147842^^MDC", ".5", vt="ST")]))  # fmt: skip
    assert [r["value"] for r in readings(m)] == [72.5, 73.0, 74.0, 0.5]
    assert m.skipped == [("OBX[4]", "no value")]


def test_coded_value_via_loinc_and_escapes() -> None:
    m = one(obx(1, "8867-4^Heart\\T\\rate^LN", "61") + "\r" + obx(2, "9269-2^GCS^LN", "14"))
    assert [r["value"] for r in readings(m)] == [61.0, 14.0]


# ------------------------------------------------------------------ whole-message rejects
@pytest.mark.parametrize(("data", "code", "field"), [
    (b"\x00\xff\xfegarbage", 100, "MSH"),
    (b"", 100, "MSH"),
    (b"PID|||P1\rOBX|1", 100, "MSH"),
    (b"MSH", 100, "MSH.2"),
    (b"MSH|^~", 100, "MSH.2"),
    (b"MSHA^~\\&|X", 100, "MSH.2"),
    (b"MSH|^^\\&|X||||||ORU^R01|1", 100, "MSH.2"),
    (b"MSH|^~\\&|X||||||ADT^A01|1|P|2.5", 200, "MSH.9"),
    (b"MSH|^~\\&|X||||||ORU^R40|1|P|2.6", 201, "MSH.9"),
    (b"MSH|^~\\&|X||||||ORU^R01|1|P|3.0", 203, "MSH.12"),
    (b"MSH|^~\\&|X||||||ORU^R01||P|2.6", 101, "MSH.10"),
    (b"MSH|^~\\&|||||||ORU^R01|1|P|2.6", 101, "MSH.3"),
    (b"MSH|^~\\&|X||||||ORU^R01|1|P|2.6\rMSH|^~\\&|X||||||ORU^R01|2|P|2.6", 100, "MSH"),
    (b"M" * (Hl7Config().max_bytes + 1), 100, "message"),
])  # fmt: skip
def test_unparseable_messages_raise_reject(data: bytes, code: int, field: str) -> None:
    with pytest.raises(Hl7Reject) as info:
        parse_oru(data)
    assert (info.value.hl7_code, info.value.field) == (code, field)


def test_newlines_and_latin1_are_tolerated() -> None:
    m = parse_oru((HEAD + obx(1, "147842^Fréquence^MDC", "60")).replace("\r", "\r\n").encode("latin-1"))
    assert m.encoding == "latin-1" and len(readings(m)) == 1


# ------------------------------------------------------------------ ACK and ORU builders
def fields(ack: str) -> dict[str, Any]:
    msg = hl7.parse(ack)
    return {"msg": msg, "msh": msg.segment("MSH"), "msa": msg.segment("MSA"),
            "err": list(msg.segments("ERR")) if "\rERR|" in ack else []}  # fmt: skip


def test_ack_swaps_sender_and_receiver_and_echoes_control_id() -> None:
    m = parse_oru(PCD01)
    f = fields(build_ack(m, "AA", "stored 5", now=datetime(2026, 3, 14, 9, 0, tzinfo=UTC)))
    msh, msa = f["msh"], f["msa"]
    assert (str(msh[3]), str(msh[4]), str(msh[5]), str(msh[6])) == (
        "MEDTWIN", "HOSP", "MINDRAY_EGATEWAY^00A0370027000143^EUI-64", "ICU-A")  # fmt: skip
    assert (str(msh[7]), str(msh[9]), str(msh[11]), str(msh[12])) == (
        "20260314090000+0000",
        "ACK^R01^ACK",
        "P",
        "2.6",
    )
    assert str(msh[10]) and str(msh[10]) != "15419"
    assert (str(msa[1]), str(msa[2]), str(msa[3])) == ("AA", "15419", "stored 5")
    assert f["err"] == []


def test_ack_err_segments_name_the_field_and_escape_text() -> None:
    errs = [
        Hl7Error("OBX", 3, 5, "not a number: 'a|b^c'", 102),
        Hl7Error("PID", 1, 3, "unknown patient", 204),
    ]
    ack = build_ack(parse_oru(PCD01), "AE", "x", errors=errs)
    f = fields(ack)
    assert str(f["msa"][1]) == "AE" and len(f["err"]) == 2
    e = f["err"][0]
    assert (str(e[2]), str(e[3]), str(e[4])) == ("OBX^3^5", "102^Data type error^HL70357", "E")
    assert f["msg"].unescape(str(e[8])) == "OBX[3].5: not a number: 'a|b^c'"
    assert str(f["err"][1][3]).startswith("204^Unknown key identifier")


@pytest.mark.parametrize(
    "junk", [b"\x00\x01\x02", b"", b"hello MSH", b"xx\rMSH|^~\\&|A|B|C|D||||CID9|P|2.5\rOBX"]
)
def test_nak_to_junk_is_valid_hl7(junk: bytes) -> None:
    f = fields(build_ack(junk, "AR", "not HL7", errors=[Hl7Error("MSH", None, None, "not HL7", 100)]))
    assert str(f["msa"][1]) == "AR" and len(f["err"]) == 1
    assert str(f["msa"][2]) == ("CID9" if b"CID9" in junk else "")


def test_build_oru_round_trips() -> None:
    t0 = datetime(2026, 3, 14, 9, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=1)))
    msg = build_oru("P001", [("147842", 72, "264864", t0), ("150456", 97.5, "262688", t0),
                             ("150344", 98.6, "266560", t0), ("150302", -999, "266016", t0),
                             ("8867-4^Heart rate^LN", 70, "bpm", t0), ("151562", None, "264928", t0)],
                    "C-1", "SIM", device_id="0011223344556677")  # fmt: skip
    m = parse_oru(msg)
    assert m.source == "SIM:0011223344556677" and m.errors == []
    got = [(r["code"], r["value"], r["unit"]) for r in readings(m)]
    assert got == [
        ("8867-4", 72.0, "/min"),
        ("2708-6", 97.5, "%"),
        ("8310-5", 98.6, "[degF]"),
        ("8867-4", 70.0, "/min"),
    ]
    assert readings(m)[0]["time"] == "2026-03-14T09:00:00.250000+01:00"
    assert [s[1] for s in m.skipped] == ["sentinel -999 (no value)", "no value"]
    with pytest.raises(ValueError):
        build_oru("P", [("147842", 1, "264864", datetime(2026, 1, 1))], "C", "S")  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError):
        build_oru("P", [("147842", float("nan"), "264864", t0)], "C", "S")


def test_split_messages() -> None:
    two = (HEAD + obx(1, "147842^^MDC", "60")).replace("M1", "M2")
    assert len(hl7v2.split_messages((HEAD + "\n" + two).replace("\r", "\n").encode())) == 2
    framed = frame(HEAD) + b"junk" + frame(two)
    assert [parse_oru(x).control_id for x in hl7v2.split_messages(framed)] == ["M1", "M2"]


# ------------------------------------------------------------------ MLLP decoder
def test_decoder_handles_junk_split_frames_restarts_and_oversize() -> None:
    d = MllpDecoder(max_frame=10)
    stream = b"junk" + frame(b"AAA") + b"\r\n" + b"\x0bHALF" + frame(b"BBB") + frame(b"C" * 50) + frame(b"D")
    got = [f for i in range(len(stream)) for f in d.feed(stream[i : i + 1])]
    assert [(f.payload, f.oversized) for f in got] == [(b"AAA", False), (b"BBB", False), (b"C" * 50, True),
                                                       (b"D", False)]  # fmt: skip
    assert d.abandoned == 1 and d.junk_bytes >= 6 and not d.in_frame
    assert [f.payload for f in MllpDecoder().feed(b"\x0bno-cr\x1c\x0bnext\x1c\r")] == [b"no-cr", b"next"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")), max_size=6),
       st.lists(st.integers(1, 50), min_size=1, max_size=20))  # fmt: skip
def test_decoder_reassembles_any_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    stream, out, pos, d = b"".join(frame(p) for p in payloads), [], 0, MllpDecoder()
    for c in cuts * (len(stream) // max(sum(cuts), 1) + 1):
        out += d.feed(stream[pos : pos + c])
        pos += c
    out += d.feed(stream[pos:])
    assert [f.payload for f in out] == payloads


# ------------------------------------------------------------------ receiver with a real Ingestor, fake store
class FakeStore:
    def __init__(self, patients: Sequence[str]) -> None:
        self.patients, self.recorded = set(patients), []  # type: ignore[var-annotated]

    def list_twins(self, kind: Any = None, ids: Any = None) -> list[Twin]:
        return [Twin(p, TwinKind.PATIENT) for p in self.patients]

    def relationships(self, *a: Any, **k: Any) -> list[Any]:
        return []

    def get_twin(self, twin_id: str) -> Twin | None:
        return Twin(twin_id, TwinKind.PATIENT) if twin_id in self.patients else None

    def record_rejects(
        self, adapter: str, source: str, rejects: Sequence[dict[str, Any]], payload: Any = None
    ) -> None:
        self.recorded.extend(rejects)


class FakeIngestor:
    """The real Ingestor's validation (``prepare``) with an in-memory commit: no writer internals."""

    def __init__(self, fail: bool = False) -> None:
        self.store = FakeStore(["P001", "PA"])
        self.real = Ingestor(self.store, None, clock=ManualClock(NOW))  # type: ignore[arg-type]
        self.keys: set[tuple[str, str]] = set()
        self.fail = fail

    def ingest_many(self, batches: Sequence[Any], *, context: Any = None) -> Future[IngestResult]:
        fut: Future[IngestResult] = Future()
        if self.fail:
            fut.set_exception(StoreError("store unavailable: batch not committed"))
            return fut
        obs: list[Observation] = []
        rejects: list[dict[str, Any]] = []
        for b in batches:
            o, _, r = self.real.prepare(b, NOW)
            obs, rejects = obs + o, rejects + r
        new = [o for o in obs if o.key not in self.keys]
        self.keys.update(o.key for o in new)
        fut.set_result(IngestResult(accepted=len(new), duplicates=len(obs) - len(new), rejected=rejects))
        return fut


NOW = datetime(2026, 3, 14, 12, tzinfo=UTC)


def receiver(fail: bool = False) -> Hl7Receiver:
    return Hl7Receiver(FakeIngestor(fail))


def answer(rx: Hl7Receiver, data: bytes | str) -> dict[str, Any]:
    raw = data.encode() if isinstance(data, str) else data
    return fields(asyncio.run(rx.handle(raw)).decode())


def test_receiver_aa_then_duplicates_on_resend() -> None:
    rx = receiver()
    f = answer(rx, PCD01)
    assert (str(f["msa"][1]), str(f["msa"][3])) == ("AA", "stored 5, duplicates 0, skipped 4, rejected 0")
    f = answer(rx, PCD01)
    assert str(f["msa"][3]) == "stored 0, duplicates 5, skipped 4, rejected 0"
    assert rx.stats.stored == 5 and rx.stats.acks["AA"] == 2


def test_receiver_ae_lists_parser_and_ingestor_rejects() -> None:
    rx = receiver()
    msg = HEAD + "\r".join(
        [obx(1, "147842^^MDC", "abc"), obx(2, "147842^^MDC", "900"), obx(3, "150456^^MDC", "97")]
    )
    f = answer(rx, msg)
    assert str(f["msa"][1]) == "AE" and str(f["msa"][3]).startswith("stored 1,")
    texts = [f["msg"].unescape(str(e[8])) for e in f["err"]]
    assert texts[0] == "OBX[1].5: not a number: 'abc'"
    assert texts[1].startswith("OBX[2].5: 900 /min is outside the plausible range")
    assert [r["field"] for r in rx.ingestor.store.recorded] == ["OBX[1].5", "OBX[2].5"]  # type: ignore[attr-defined]


def test_receiver_unknown_patient_and_future_time() -> None:
    rx = receiver()
    f = answer(
        rx, HEAD.replace("P001", "NOBODY") + obx(1, "147842^^MDC", "60") + "\r" + obx(2, "150456^^MDC", "97")
    )
    assert str(f["msa"][1]) == "AE" and len(f["err"]) == 1  # one ERR per distinct location and reason
    assert f["msg"].unescape(str(f["err"][0][8])).startswith("PID[1].3: unknown patient 'NOBODY'")
    f = answer(rx, HEAD + obx(1, "147842^^MDC", "60", ts="20270101000000+0000"))
    assert f["msg"].unescape(str(f["err"][0][8])).startswith("OBX[1].14: time 2027-01-01")


def test_receiver_ar_for_junk_and_store_failure() -> None:
    f = answer(receiver(), b"\x00\xffnot hl7")
    assert str(f["msa"][1]) == "AR" and "MSH" in f["msg"].unescape(str(f["err"][0][8]))
    f = answer(receiver(fail=True), PCD01)
    assert (str(f["msa"][1]), str(f["msa"][2])) == ("AR", "15419")
    assert str(f["err"][0][3]).startswith("207^")


# ------------------------------------------------------------------ fuzzing
ALPHABET = "MSHPIDOBRX|^~\\&\r\n0123456789.-+ ACFNPRTUW"
VALID = PCD01.encode()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(
        draw(st.sampled_from([VALID, XH80X.encode(), (HEAD + obx(1, "147842^^MDC", "60")).encode()]))
    )
    for _ in range(draw(st.integers(1, 4))):
        op, i = draw(st.integers(0, 4)), draw(st.integers(0, len(data)))
        if op == 0:
            del data[i:]  # truncation
        elif op == 1:
            del data[i : i + draw(st.integers(1, 30))]
        elif op == 2:
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == 3:
            data[i:i] = draw(st.text(ALPHABET, min_size=1, max_size=12)).encode()
        elif data:
            data[min(i, len(data) - 1)] = draw(st.integers(0, 255))
    return bytes(data)


PARSER_INPUT = st.one_of(st.binary(max_size=300), st.text(ALPHABET, max_size=300).map(lambda s: ("MSH" + s).encode()),
                         mutated())  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PARSER_INPUT)
def test_fuzz_parser_raises_only_validation_errors(data: bytes) -> None:
    try:
        m = parse_oru(data)
    except ValidationError:
        return
    for r in readings(m):
        assert datetime.fromisoformat(r["time"]).tzinfo is not None
    assert all(isinstance(e, Hl7Error) and e.location for e in m.errors)


def test_fuzz_receiver_always_answers() -> None:
    loop = asyncio.new_event_loop()
    rx = receiver()

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(PARSER_INPUT)
    def check(data: bytes) -> None:
        ack = loop.run_until_complete(rx.handle(data)).decode("latin-1")  # the sender's charset
        msa = hl7.parse(ack).segment("MSA")
        assert str(msa[1]) in ("AA", "AE", "AR")
        assert "internal error" not in ack  # every fault was foreseen, none fell through to the last resort

    try:
        check()
    finally:
        loop.close()
