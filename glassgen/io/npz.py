"""Readers for the npz files of GlassBench and BOTAN (REFERENCE.md section 3).

Each file holds one configuration; its layout is detected from its keys:

``glassbench-models`` (GlassBench ``KA_models``, ``KA2D_models``)
    ``types`` (N,) 1-based, ``initial_positions`` (N, d), ``md_prop`` (K, N) -> propensity; optional ``bb_prop``
    (K, N) -> bond_breaking and ``initial_positions_inherent`` (N, d) -> inherent_positions. Every other key (the
    published type-A predictions ``BOTAN, CAGE, GlassMLP, SE3, SBO, SBO_CG, DEN, EPOT, PSI6`` of test files,
    ``initial_positions_cage``) goes to ``Dataset.extras``, kept where every file of a folder has it.
``glassbench-trajectories`` (GlassBench ``KA2D_trajectories``)
    ``box`` (scalar or (d,)), ``types`` (N,) 1-based, ``initial_positions`` (N, d), ``positions`` (R, N, d) of R
    replicas at one time, possibly wrapped; optional ``initial_positions_inherent``.
``botan-isoconfig`` (BOTAN ``isoconfig_*``)
    ``types`` (N,) 0-based, ``initial_positions`` (N, d), ``positions`` (R, N, d) of R replicas, unwrapped.

Replica layouts get the propensity from :func:`~glassgen.io.labels.propensity_from_replicas` (minimum-image
displacements for GlassBench trajectories, plain displacements of the unwrapped BOTAN positions, which stay exact
beyond half a box edge), BOTAN's edge target from :func:`~glassgen.io.labels.edge_change_from_replicas` (extras
``edge_pairs`` and ``edge_change``, as ``glassgen label --edges`` writes them; ~0.2 s and 2 MB per N = 4096
configuration) and no bond-breaking label; their other keys are ignored. Files without a box get a cubic box
at the model's density; a box in a file must match that density. File names ``[prefix]N{N}T{T}_{k}[_tc{NN}].npz`` give
the temperature T, the configuration index k and the time code NN: time NN of the GlassBench table of T
(:data:`GLASSBENCH_TIMES`). A folder is read as one dataset: its files sorted by k, replica files of one k merged into
K times sorted by time code. Labels whose times the table does not give (unknown temperature, KA2D models files with
8 times) get ``times = None`` unless the caller passes the source's time table.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import glassgen
from glassgen.errors import DataFormatError, InvalidInputError
from glassgen.io._checks import about_file, check_shape
from glassgen.io.dataset import Dataset
from glassgen.io.labels import edge_change_from_replicas, propensity_from_replicas, stack_edge_targets
from glassgen.systems import PairModel, get_model, infer_model

#: Label times of GlassBench per dimension and temperature (`times_{T}.dat`); time code NN is entry NN - 1.
GLASSBENCH_TIMES: dict[int, dict[float, tuple[float, ...]]] = {
    3: {
        0.44: (0.13, 1.3, 13, 130, 412, 1300, 4120, 13000, 41200, 130000),
        0.50: (0.108, 0.434, 2.17, 6.86, 21.7, 68.6, 217, 686, 2170, 6860),
        0.56: (0.104, 0.33, 0.99, 1.65, 5.2, 16.5, 52, 165, 520, 1650),
        0.64: (0.032, 0.1, 0.165, 0.52, 1.65, 5.2, 16.5, 52, 165, 520),
    },
    2: {
        0.30: (0.11, 1.25, 14.14, 158.74, 1781.79, 20000),
    },
}

_NAME = re.compile(r"N(?P<n>\d+)T(?P<t>\d+(?:\.\d*)?)_(?P<k>\d+)(?:_tc(?P<tc>\d+))?\.npz$")


@dataclass(frozen=True)
class Layout:
    """An npz layout: the keys that identify it and how to read its labels."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    type_offset: int
    replicas: bool
    wrapped: bool = False  # replica positions may be wrapped into the box: take minimum-image displacements

    def expected(self) -> str:
        return f"{', '.join(self.required)}" + (f" (optional: {', '.join(self.optional)})" if self.optional else "")


LAYOUTS = (
    Layout("glassbench-models", ("types", "initial_positions", "md_prop"), ("bb_prop", "initial_positions_inherent"),
           type_offset=1, replicas=False),
    Layout("glassbench-trajectories", ("box", "types", "initial_positions", "positions"),
           ("initial_positions_inherent",), type_offset=1, replicas=True, wrapped=True),
    Layout("botan-isoconfig", ("types", "initial_positions", "positions"), (), type_offset=0, replicas=True),
)


def glassbench_times(dim: int, temperature: float | None) -> np.ndarray | None:
    """The GlassBench label times of ``temperature`` in ``dim`` dimensions, None where the table has none."""
    if temperature is None:
        return None
    for known, times in GLASSBENCH_TIMES.get(dim, {}).items():
        if math.isclose(known, temperature, rel_tol=1e-9):
            return np.array(times, dtype=np.float64)
    return None


def detect_layout(keys: Sequence[str]) -> Layout:
    """The layout whose required keys a file has (the most specific one), else a DataFormatError naming the nearest."""
    keys = set(keys)
    complete = [layout for layout in LAYOUTS if keys.issuperset(layout.required)]
    if complete:
        return max(complete, key=lambda layout: len(layout.required))
    nearest = max(LAYOUTS, key=lambda layout: len(keys.intersection(layout.required + layout.optional)))
    missing = [key for key in nearest.required if key not in keys]
    raise DataFormatError(
        f"missing key(s) {missing}: found keys {sorted(keys)}; the nearest layout, {nearest.name}, has keys "
        f"{nearest.expected()}. Add the missing arrays, or convert the file to one of the layouts "
        f"{[layout.name for layout in LAYOUTS]} described in glassgen.io.npz."
    )


@dataclass(frozen=True)
class _Name:
    """What a file name says: temperature, configuration index k and time code."""

    temperature: float | None = None
    index: int | None = None
    tc: int | None = None

    @classmethod
    def parse(cls, path: Path) -> _Name:
        match = _NAME.search(path.name)
        if match is None:
            return cls()
        tc = match["tc"]
        return cls(float(match["t"]), int(match["k"]), None if tc is None else int(tc))


@dataclass
class _File:
    """One npz file read and reduced to one configuration with labels at one or more times."""

    path: Path
    layout: Layout
    name: _Name
    types: np.ndarray
    positions: np.ndarray
    box: np.ndarray
    inherent: np.ndarray | None
    propensity: np.ndarray  # (K, N): all K times of a models file, the one time of a replica file
    bond_breaking: np.ndarray | None
    n_replicas: int | None
    extras: dict
    edges: tuple | None  # BOTAN's edge target of a replica file: pairs (P, 2) and change (P,) at its time


def _read_file(path: Path, model: PairModel | None) -> tuple[_File, PairModel]:
    """Read one file and the model it belongs to (``model`` if given, else inferred from dimension and species)."""
    if not zipfile.is_zipfile(path):
        raise DataFormatError("neither a glassgen HDF5 file nor an .npz archive of named arrays; give a glassgen .h5 "
                              "file or a GlassBench or BOTAN .npz file.")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataFormatError(f"cannot read as .npz ({err}); give a GlassBench or BOTAN .npz file.") from err
    with npz:
        layout = detect_layout(npz.files)
        try:
            data = {key: npz[key] for key in npz.files}
        except ValueError as err:
            raise DataFormatError(f"an array cannot be read without pickle ({err}); store numeric arrays.") from err

    positions = data["initial_positions"]
    check_shape("initial_positions", positions, (None, None), "Expected (N particles, d dimensions).")
    n, d = positions.shape
    types = data["types"]
    check_shape("types", types, (n,), f"Expected one species per particle, N = {n} from initial_positions.")
    types = types - layout.type_offset
    if n and types.min() < 0:
        raise DataFormatError(
            f"types start at {types.min() + layout.type_offset}, but {layout.name} files label species from "
            f"{layout.type_offset}. Check that the file is of the {layout.name} layout."
        )
    if model is None:
        model = infer_model(d, int(types.max()) + 1)
    if model.dim != d:
        raise DataFormatError(f"{d}D positions, but model {model.name} is {model.dim}D; pass the right model.")

    if "box" in data:
        raw = data["box"]
        box = np.full(d, float(raw.reshape(-1)[0])) if raw.size == 1 else raw.astype(np.float64)
        check_shape("box", box, (d,), "Expected one edge length, or one per dimension.")
        try:
            model.check_density(n, float(np.prod(box)))
        except InvalidInputError as err:
            raise DataFormatError(
                f"box {box.tolist()} gives N/V = {n / np.prod(box):.6g}, but {model.name} has density "
                f"{model.density:.6g} (box edge {model.box_length(n):.6g} for N = {n}). The box in the file is wrong, "
                "or the data belong to another model: pass model=..."
            ) from err
    else:
        box = np.full(d, model.box_length(n))

    inherent = data.get("initial_positions_inherent")
    if inherent is not None:
        check_shape("initial_positions_inherent", inherent, (n, d), "Expected the shape of initial_positions.")

    n_replicas = None
    bond_breaking = None
    edges = None
    if layout.replicas:
        replicas = data["positions"]
        check_shape("positions", replicas, (None, n, d), "Expected (R replicas, N particles, d dimensions).")
        propensity = propensity_from_replicas(positions, replicas, box if layout.wrapped else None)[None]
        n_replicas = len(replicas)
        edges = edge_change_from_replicas(positions, replicas, box, wrapped=layout.wrapped)
        extras = {}
    else:
        propensity = data["md_prop"]
        check_shape("md_prop", propensity, (None, n), "Expected (K label times, N particles).")
        bond_breaking = data.get("bb_prop")
        if bond_breaking is not None:
            check_shape("bb_prop", bond_breaking, propensity.shape, "Expected the shape of md_prop.")
        extras = {key: value for key, value in data.items() if key not in layout.required + layout.optional}
    record = _File(path, layout, _Name.parse(path), types, positions, box, inherent, propensity, bond_breaking,
                   n_replicas, extras, edges)
    return record, model


def read_npz(paths: Sequence[str | Path], model: str | None = None, temperature: float | None = None,
             times: Sequence[float] | None = None, source: str | Path | None = None) -> Dataset:
    """Read npz files of one layout and temperature into one dataset, one configuration per index k.

    Parameters
    ----------
    paths : sequence of paths
        The files; their order does not matter (they are sorted by k, then naturally by name).
    model : str, optional
        Model name; default: inferred from dimension and number of species (3D binary -> ka3d, 2D ternary -> ka2d).
    temperature : float, optional
        Temperature; default: parsed from the file names. Must agree with the names where both are known.
    times : sequence of float, optional
        The full label-time table of the source (``times_{T}.dat``), replacing the built-in GlassBench table: K times
        for a models layout, entry NN - 1 for time code NN of a replica layout.
    source : path, optional
        What the user asked to read (file or folder), recorded in the metadata.
    """
    paths = sorted((Path(p) for p in paths), key=_order)
    if not paths:
        raise InvalidInputError("read_npz needs at least one .npz file; got none.")
    spec = None if model is None else get_model(model)
    files = []
    for path in paths:
        with about_file(path):
            record, spec = _read_file(path, spec)
        _check_same(files[0] if files else record, record)
        files.append(record)
    first = files[0]
    temperature = _temperature(files, temperature)
    table = glassbench_times(spec.dim, temperature) if times is None else np.asarray(times, dtype=np.float64)

    groups: dict[object, list[_File]] = {}
    for record in files:
        groups.setdefault(record.path.name if record.name.index is None else record.name.index, []).append(record)
    configurations = []
    codes = None
    for members in groups.values():
        members.sort(key=lambda record: record.name.tc or 0)
        codes = _check_group(members, codes)
        with about_file(members[0].path):
            configurations.append(Dataset(
                positions=members[0].positions[None], types=first.types, box=first.box, model=spec.name,
                temperature=temperature,
                inherent_positions=None if members[0].inherent is None else members[0].inherent[None],
                times=_label_times(members, table, times is not None),
                propensity=np.concatenate([record.propensity for record in members])[None],
                bond_breaking=None if members[0].bond_breaking is None else members[0].bond_breaking[None],
                extras={key: value[None] for key, value in members[0].extras.items()},
            ))
    where = Path(source) if source is not None else first.path
    with about_file(where):
        dataset = Dataset.concatenate(configurations)
    if first.edges is not None:  # the pairs of a configuration come from its initial positions, shared by its files
        dataset = replace(dataset, extras={**dataset.extras, **stack_edge_targets(
            [members[0].edges[0] for members in groups.values()],
            [np.stack([record.edges[1] for record in members]) for members in groups.values()])})
    metadata = {
        "glassgen_version": glassgen.__version__,
        "source": {
            "path": str(where.resolve()),
            "layout": first.layout.name,
            "times_from": None if dataset.times is None else ("argument" if times is not None else "GlassBench table"),
            "files": [
                {"name": r.path.name, "configuration": r.name.index, "tc": r.name.tc, "replicas": r.n_replicas}
                for members in groups.values() for r in members
            ],
        },
    }
    return replace(dataset, metadata=metadata)


def _order(path: Path) -> tuple:
    """Sort key: configuration index k where the name has one, then the name with digit runs compared as numbers."""
    index = _Name.parse(path).index
    natural = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]
    return (index is None, index or 0, natural)


def _check_same(first: _File, record: _File) -> None:
    """Files of one dataset share layout, species order and box."""
    for label, same in (
        ("layout", record.layout == first.layout),
        ("types (species order)", np.array_equal(record.types, first.types)),
        ("box", record.box.shape == first.box.shape and np.allclose(record.box, first.box, rtol=1e-9, atol=0)),
    ):
        if not same:
            raise DataFormatError(
                f"{record.path} and {first.path} differ in {label}; a folder must hold configurations of one layout, "
                "one species order and one box. Split the files into separate folders."
            )


def _temperature(files: list[_File], given: float | None) -> float | None:
    """The one temperature of the files' names, checked against the caller's."""
    named = sorted({record.name.temperature for record in files if record.name.temperature is not None})
    if len(named) > 1:
        raise DataFormatError(
            f"files of several temperatures {named} in one dataset; keep one temperature per folder."
        )
    if given is not None and named and not math.isclose(given, named[0], rel_tol=1e-9):
        raise InvalidInputError(
            f"temperature {given} was given, but the file names say T = {named[0]}; drop the argument or fix it."
        )
    return given if given is not None else (named[0] if named else None)


def _check_group(members: list[_File], codes: list | None) -> list:
    """Files of one configuration index: one file (models), or replica files of one configuration at distinct time
    codes, the same codes as the configurations before (``codes``). Returns this configuration's codes."""
    first = members[0]
    found = [record.name.tc for record in members]
    if not first.layout.replicas and len(members) > 1:
        raise DataFormatError(
            f"{first.path.name} and {members[1].path.name} are both configuration k = {first.name.index}; "
            "keep one file per configuration."
        )
    if len(set(found)) != len(found) or (None in found and len(found) > 1):
        raise DataFormatError(
            f"configuration k = {first.name.index} has files with time codes {found}: each file of one "
            "configuration needs its own _tc{NN} in its name."
        )
    for record in members[1:]:
        if not np.array_equal(record.positions, first.positions):
            raise DataFormatError(
                f"{first.path.name} and {record.path.name} carry the same configuration index but different "
                "initial positions; keep one configuration per index k in a folder."
            )
    if codes is not None and found != codes:
        raise DataFormatError(
            f"configuration k = {first.name.index} has time codes {found}, the configurations before it have "
            f"{codes}; give every configuration the same time codes."
        )
    return found


def _label_times(members: list[_File], table: np.ndarray | None, given: bool) -> np.ndarray | None:
    """Times of the labels of one configuration: the table itself (models), or its entries at the time codes."""
    first = members[0]
    if not first.layout.replicas:
        n_times = len(first.propensity)
        if given and len(table) != n_times:
            raise InvalidInputError(
                f"{len(table)} times were given, but md_prop of {first.path.name} has {n_times} rows; "
                "give one time per row."
            )
        return table if table is not None and len(table) == n_times else None
    codes = [record.name.tc for record in members]
    if table is None or None in codes:
        return None
    beyond = [code for code in codes if not 1 <= code <= len(table)]
    if beyond:
        raise DataFormatError(
            f"time code(s) {beyond} of configuration k = {first.name.index}, but the time table has "
            f"{len(table)} times {table.tolist()}; pass the full time table of the source (times=...)."
        )
    return table[np.array(codes) - 1]
