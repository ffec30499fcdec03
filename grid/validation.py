"""Checks that a feeder is a physical radial LV network before anything runs on it.

A power flow "converges" on many broken networks (a bus cut off from the
source reads 0 p.u., a zero-impedance line divides by nothing quietly), so a
user's feeder is checked first, and every problem names the element.
"""

import numpy as np
import pandapower as pp
import pandas as pd

LV_KV = 1.0  # a bus below 1 kV is low-voltage: households connect there


def feeder_problems(net: pp.pandapowerNet, households: pd.DataFrame) -> list[str]:
    """What is wrong with ``net`` and the household table, one sentence per problem (empty: fine)."""
    problems = _numbers(net)
    if problems:
        return problems  # the graph checks below need sane numbers
    buses = net.bus.index[net.bus.in_service.astype(bool)] if "in_service" in net.bus else net.bus.index
    edges = _edges(net)
    if len(net.ext_grid) == 0:
        return ["the net has no ext_grid (the source the feeder hangs from)"]
    source = int(net.ext_grid.bus.iloc[0])
    reached = _reachable(source, edges)
    connected_edges = [e for e in edges if e[0] in reached]
    if len(connected_edges) != len(reached) - 1:
        problems.append(
            f"the net is meshed ({len(connected_edges)} branches for {len(reached)} connected buses; "
            f"a radial feeder has {len(reached) - 1}); lemgrid's tree methods need a radial feeder"
        )
    degree: dict[int, int] = {}
    for a, b, _ in edges:
        degree[a] = degree.get(a, 0) + 1
        degree[b] = degree.get(b, 0) + 1
    vn_kv = net.bus.vn_kv
    for row in households.itertuples(index=False):
        bus = int(row.bus)
        if vn_kv.get(bus, np.nan) >= LV_KV:
            problems.append(
                f"household {row.household!r} is on bus {bus} at {vn_kv[bus]} kV; households connect to "
                f"low-voltage buses (below {LV_KV} kV)"
            )
        elif degree.get(bus, 0) == 0:
            problems.append(f"household {row.household!r} is on bus {bus}, which no line connects")
        elif bus not in reached:
            problems.append(f"household {row.household!r} is on bus {bus}, which has no path to the source")
    cut_off = [int(b) for b in buses if int(b) not in reached]
    if cut_off:
        problems.append(
            f"{len(cut_off)} buses are not connected to the source bus {source}, e.g. bus {cut_off[0]}; "
            "connect them or remove them"
        )
    return problems


def _numbers(net: pp.pandapowerNet) -> list[str]:
    """Lengths, impedances and ratings that must be finite and positive, per element."""
    problems = []
    checks = {
        "line": (("length_km", True), ("r_ohm_per_km", False), ("x_ohm_per_km", False),
                 ("r0_ohm_per_km", False), ("x0_ohm_per_km", False)),
        "trafo": (("sn_mva", True), ("vk_percent", True), ("vkr_percent", False),
                  ("vk0_percent", False), ("vkr0_percent", False)),
    }  # fmt: skip
    for table, columns in checks.items():
        frame = net[table]
        for column, strictly in columns:
            if column not in frame or not len(frame):
                continue
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(values) | ((values <= 0) if strictly else (values < 0))
            if bad.any():
                index = frame.index[bad][0]
                rule = "finite and positive" if strictly else "finite and not negative"
                problems.append(
                    f"{table} {index} ({frame.at[index, 'name'] if 'name' in frame else ''}) has "
                    f"{column} = {frame.at[index, column]}; must be {rule} "
                    f"({int(bad.sum())} {table}s like it)"
                )
    line = net.line
    if len(line) and {"r_ohm_per_km", "x_ohm_per_km"} <= set(line.columns):
        z = np.hypot(line.r_ohm_per_km.astype(float), line.x_ohm_per_km.astype(float))
        zero = line.index[(z == 0).to_numpy()]
        if len(zero):
            problems.append(
                f"line {zero[0]} has zero impedance (r_ohm_per_km = x_ohm_per_km = 0); "
                f"give every line a positive impedance ({len(zero)} lines like it)"
            )
    return problems


def _edges(net: pp.pandapowerNet) -> list[tuple[int, int, str]]:
    """In-service branches as (from bus, to bus, element) with the open switches taken out."""
    edges = []
    open_lines = set()
    if len(net.switch):
        sw = net.switch
        open_lines = set(sw.element[(sw.et == "l") & ~sw.closed.astype(bool)].astype(int))
        for row in sw[(sw.et == "b") & sw.closed.astype(bool)].itertuples():
            edges.append((int(row.bus), int(row.element), f"switch {row.Index}"))
    for table, a, b in (("line", "from_bus", "to_bus"), ("trafo", "hv_bus", "lv_bus")):
        frame = net[table]
        if not len(frame):
            continue
        on = frame.in_service.astype(bool) if "in_service" in frame else pd.Series(True, frame.index)
        for index, row in frame[on].iterrows():
            if table == "line" and index in open_lines:
                continue
            edges.append((int(row[a]), int(row[b]), f"{table} {index}"))
    return edges


def _reachable(source: int, edges: list[tuple[int, int, str]]) -> set[int]:
    neighbours: dict[int, list[int]] = {}
    for a, b, _ in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    seen, todo = {source}, [source]
    while todo:
        for nxt in neighbours.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
