"""Loading the building model for walking: a YAML/JSON file, a log's sidecar, or the bundled demo.

The file format is :meth:`medtwin.models.flow.building.Building.from_dict`; the bundled demo
outpatient building (``data/building.yaml``) is building B1 of the demo hospital with floors
F0-F2. :func:`building_twins` turns a building into the platform's twins (building, floor, room
with coordinates as attributes) so it can be registered next to the wards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from medtwin.core.errors import ValidationError
from medtwin.core.model import Relationship, RelType, Twin, TwinKind
from medtwin.models.flow.building import Building, BuildingError

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_BUILDING = DATA / "building.yaml"


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def load_building(path: str | Path | None = None, *, data: dict[str, Any] | None = None) -> Building:
    """The building from ``data``, from ``path`` (YAML or JSON), or the bundled demo building."""
    try:
        if data is not None:
            return Building.from_dict(data)
        p = Path(path) if path else DEFAULT_BUILDING
        if not p.exists():
            raise ValidationError(f"no such file: {p}", field="building")
        raw = _read(p)
        if isinstance(raw, dict) and raw.get("format") == "medtwin flow log":
            raw = raw["building"]  # a generated log's sidecar carries its building
        return Building.from_dict(raw)
    except BuildingError as exc:
        raise ValidationError(exc.reason, field=f"building.{exc.field}") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"not valid YAML: {exc}", field="building") from None


def building_twins(b: Building) -> tuple[list[Twin], list[Relationship]]:
    """Twins (building, floors, rooms with x/y) and part_of relationships for the registry."""
    twins = [Twin(b.id, TwinKind.BUILDING, b.name or b.id)]
    rels = []
    for f, level in b.floors.items():
        twins.append(Twin(f, TwinKind.FLOOR, f"Floor {level}", {"level": level}))
        rels.append(Relationship(f, RelType.PART_OF, b.id))
    for r in b.rooms.values():
        twins.append(Twin(r.id, TwinKind.ROOM, r.name or r.id, {"x": r.x, "y": r.y, "floor": r.floor}))
        rels.append(Relationship(r.id, RelType.PART_OF, r.floor))
    return twins, rels
